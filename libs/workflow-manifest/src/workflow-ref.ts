import semver from 'semver';
import type { WorkflowRef } from './manifest.types';

/** A workflow name: lower-case letters, digits and hyphens, starting with a letter or digit (the file name matches). */
export const WORKFLOW_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,99}$/;

export class WorkflowRefError extends Error {
  override readonly name = 'WorkflowRefError';
}

/** `publish-one@^1` → { name: 'publish-one', range: '^1' }; no `@` → range `*`. Throws WorkflowRefError. */
export function parseWorkflowRef(text: string): WorkflowRef {
  if (typeof text !== 'string' || text.trim() === '') throw new WorkflowRefError('workflow reference is empty; write it like publish-one@^1');
  const value = text.trim();
  const at = value.indexOf('@');
  const name = at < 0 ? value : value.slice(0, at);
  const range = at < 0 ? '*' : value.slice(at + 1).trim();
  if (!WORKFLOW_NAME_PATTERN.test(name)) {
    throw new WorkflowRefError(`invalid workflow name "${name}" in "${text}": use lower-case letters, digits and hyphens`);
  }
  if (range === '' || semver.validRange(range) === null) {
    throw new WorkflowRefError(`invalid version range "${range}" in "${text}": use a semver range like ^1, ~1.2, 1.2.3 or *`);
  }
  return { name, range };
}

export function formatWorkflowRef(ref: WorkflowRef): string {
  return `${ref.name}@${ref.range}`;
}
