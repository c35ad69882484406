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

/**
 * The one major version a requested version or range stays within (`^1`, `1.x` and `1.4.0` are 1), or undefined when
 * it is no range or reaches into more than one (`>=1 <3`, `1.x || 2.x`): inputs written for it have no single major.
 */
export function majorOfRange(range: string): number | undefined {
  try {
    const lowest = semver.minVersion(range);
    if (!lowest || semver.intersects(range, `>=${lowest.major + 1}.0.0-0`, { includePrerelease: true })) return undefined;
    return lowest.major;
  } catch {
    return undefined;
  }
}

/** The highest version satisfying `range` that is not retired (prereleases only when the range names one). */
export function resolveVersion(range: string, versions: readonly { version: string; retired?: boolean }[]): string | undefined {
  const candidates = versions.filter((v) => !v.retired && isValidVersion(v.version)).map((v) => v.version);
  return semver.maxSatisfying(candidates, range) ?? undefined;
}
