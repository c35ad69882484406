import semver from 'semver';

/** Strict semver `x.y.z[-pre]`: no `v` prefix, no build metadata (name@version must name exactly one thing). */
export function isValidVersion(version: unknown): version is string {
  return typeof version === 'string' && semver.valid(version) === version && !version.includes('+');
}

/** semver order: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b);
}

export function majorOf(version: string): number {
  return semver.major(version);
}

/** The major version a requested version or range names (its lowest match's: `^1` and `1.4.0` are 1), if it is one. */
export function majorOfRange(range: string): number | undefined {
  try {
    const lowest = semver.minVersion(range);
    return lowest ? lowest.major : undefined;
  } catch {
    return undefined;
  }
}

/** The highest version satisfying `range` that is not retired (prereleases only when the range names one). */
export function resolveVersion(range: string, versions: readonly { version: string; retired?: boolean }[]): string | undefined {
  const candidates = versions.filter((v) => !v.retired && isValidVersion(v.version)).map((v) => v.version);
  return semver.maxSatisfying(candidates, range) ?? undefined;
}
