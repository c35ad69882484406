import { compareVersions, isValidVersion, majorOf, resolveVersion } from './versions';

describe('versions', () => {
  it('accepts strict semver only', () => {
    expect(isValidVersion('1.2.0')).toBe(true);
    expect(isValidVersion('1.2.0-beta.1')).toBe(true);
    for (const bad of ['1.2', 'v1.2.0', '1.2.0+build', '=1.2.0', '', 1]) expect(isValidVersion(bad)).toBe(false);
  });

  it('compares and takes the major', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(compareVersions('2.0.0', '2.0.0')).toBe(0);
    expect(majorOf('3.1.4')).toBe(3);
  });

  it('resolves the highest satisfying version that is not retired', () => {
    const versions = [{ version: '1.0.0' }, { version: '1.4.0', retired: true }, { version: '1.3.2' }, { version: '2.0.0' }];
    expect(resolveVersion('^1', versions)).toBe('1.3.2');
    expect(resolveVersion('*', versions)).toBe('2.0.0');
    expect(resolveVersion('^3', versions)).toBeUndefined();
    expect(resolveVersion('1.4.0', versions)).toBeUndefined();
  });

  it('skips prereleases unless the range names one', () => {
    const versions = [{ version: '1.0.0' }, { version: '1.1.0-rc.1' }];
    expect(resolveVersion('^1', versions)).toBe('1.0.0');
    expect(resolveVersion('^1.1.0-rc.0', versions)).toBe('1.1.0-rc.1');
  });
});
