import type { ParseManifestOptions, ParseManifestResult } from './parse-manifest';
import { parseManifest } from './parse-manifest';
import { validateManifest, type ValidationContext } from './validate-manifest';

/** parseManifest, then every other layer when it parsed: what `pancha workflows validate` and the registry run per file. */
export function checkManifest(text: string, ctx: ValidationContext, opts: ParseManifestOptions = {}): ParseManifestResult {
  const parsed = parseManifest(text, opts);
  if (!parsed.manifest) return parsed;
  return { ...parsed, findings: [...parsed.findings, ...validateManifest(parsed.manifest, ctx, parsed.source)] };
}
