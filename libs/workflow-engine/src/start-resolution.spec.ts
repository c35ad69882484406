import { chooseStartVersion, type StartableWorkflow } from './start-resolution';

const wf = (versions: StartableWorkflow['versions'], enabled = true): StartableWorkflow => ({ name: 'notify', enabled, versions });
const v = (version: string, extra: Partial<StartableWorkflow['versions'][number]> = {}) => ({ version, present: true, retired: false, ...extra });

describe('chooseStartVersion', () => {
  const set = wf([v('1.0.0', { retired: true }), v('1.1.0', { present: false, retired: true }), v('2.0.0', { manifest: { migrations: { '1.x': {} } } }), v('2.1.0', { manifest: { migrations: { '1.x': {} } } }), v('3.0.0', { present: false })]);

  it('a live match is taken as asked, never migrated', () => {
    expect(chooseStartVersion(set, 'notify', '2.0.0')).toEqual({ ok: true, version: '2.0.0' });
    expect(chooseStartVersion(set, 'notify', '^2')).toEqual({ ok: true, version: '2.1.0' });
    expect(chooseStartVersion(set, 'notify')).toEqual({ ok: true, version: '2.1.0' });
  });

  it('a retired or missing old major moves to the newest present version that migrates from it', () => {
    for (const requested of ['1.0.0', '^1', '1.x', '~1.1.0']) {
      expect(chooseStartVersion(set, 'notify', requested)).toEqual({ ok: true, version: '2.1.0', migrateFrom: '1.0.0' });
    }
  });

  it('without such a migration the refusal stands', () => {
    const none = wf([v('1.0.0', { retired: true }), v('2.0.0')]);
    expect(chooseStartVersion(none, 'notify', '1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(none, 'notify', '^1')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(set, 'notify', '^4')).toMatchObject({ ok: false, reason: 'unknown_version' });
    expect(chooseStartVersion(set, 'notify', 'not a range')).toMatchObject({ ok: false, reason: 'unknown_version' });
    // A range reaching into more than one major names no single format for its inputs: nothing to migrate from.
    const wide = wf([v('1.0.0', { retired: true }), v('3.0.0', { manifest: { migrations: { '1.x': {}, '2.x': {} } } })]);
    expect(chooseStartVersion(wide, 'notify', '>=1 <3')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(wide, 'notify', '1.x || 2.x')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(wide, 'notify', '^1')).toEqual({ ok: true, version: '3.0.0', migrateFrom: '1.0.0' });
    // Only a later major inherits: 2.x inputs are not moved back to 1.x, nor forward past what was asked.
    expect(chooseStartVersion(wf([v('1.0.0', { manifest: { migrations: { '0.x': {} } } })]), 'notify', '^2')).toMatchObject({ ok: false, reason: 'unknown_version' });
  });

  it('a version no longer in the directory starts no new run, exactly named or matched by a range', () => {
    const gone = wf([v('1.0.0', { present: false }), v('1.1.0', { present: false }), v('1.3.0')]);
    expect(chooseStartVersion(gone, 'notify', '1.0.0')).toEqual({ ok: false, reason: 'version_retired', message: 'notify@1.0.0 is retired: no longer in the workflows directory' });
    expect(chooseStartVersion(gone, 'notify', '~1.0.0')).toEqual({
      ok: false,
      reason: 'version_retired',
      message:
        'every version of notify matching ~1.0.0 is retired: 1.0.0 (no longer in the workflows directory); no new runs start (start a version in the workflows directory, or put the file back)',
    });
    expect(chooseStartVersion(gone, 'notify', '^1.0.0')).toEqual({ ok: true, version: '1.3.0' });
    expect(chooseStartVersion(gone, 'notify', '1.3.0')).toEqual({ ok: true, version: '1.3.0' });
    // The whole file removed: nothing present, so no default, and no exact version or range either.
    const removed = wf([v('1.0.0', { present: false }), v('1.1.0', { present: false, retired: true })]);
    expect(chooseStartVersion(removed, 'notify')).toMatchObject({ ok: false, reason: 'unknown_version' });
    expect(chooseStartVersion(removed, 'notify', '1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(removed, 'notify', '1.1.0')).toEqual({ ok: false, reason: 'version_retired', message: 'notify@1.1.0 is retired' });
    expect(chooseStartVersion(removed, 'notify', '^1')).toEqual({
      ok: false,
      reason: 'version_retired',
      message:
        'every version of notify matching ^1 is retired: 1.1.0 (no longer in the workflows directory), 1.0.0 (no longer in the workflows directory); no new runs start (start a live version, or un-retire one)',
    });
    expect(chooseStartVersion(removed, 'notify', '^2')).toMatchObject({ ok: false, reason: 'unknown_version', message: 'no version of notify matches ^2' });
    // A later major present that migrates the old one's inputs still takes its callers.
    expect(chooseStartVersion(set, 'notify', '3.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(chooseStartVersion(set, 'notify', '^3')).toMatchObject({ ok: false, reason: 'version_retired', message: expect.stringContaining('3.0.0 (no longer in the workflows directory)') });
  });

  it('a range or no version matching only versions that cannot start is the version_retired of an exact one, naming them', () => {
    // Replaced only (none retired): the range's answer is the exact version's, not a 404 saying no version exists.
    const replaced = wf([v('1.0.0', { present: false }), v('1.1.0', { present: false }), v('2.0.0')]);
    expect(chooseStartVersion(replaced, 'notify', '1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    for (const range of ['^1', '1.x', '~1.1']) {
      const choice = chooseStartVersion(replaced, 'notify', range);
      expect([range, choice]).toEqual([range, expect.objectContaining({ ok: false, reason: 'version_retired', message: expect.stringContaining(`every version of notify matching ${range} is retired: `) })]);
    }
    expect(chooseStartVersion(replaced, 'notify', '^1')).toMatchObject({ message: expect.stringContaining('1.1.0 (no longer in the workflows directory), 1.0.0 (no longer in the workflows directory);') });
    // Retired only, in the directory: with a range, and with no version (every version in the directory is retired).
    const retired = wf([v('1.0.0', { retired: true }), v('1.4.0', { retired: true })]);
    expect(chooseStartVersion(retired, 'notify', '^1')).toEqual({
      ok: false,
      reason: 'version_retired',
      message: 'every version of notify matching ^1 is retired: 1.4.0, 1.0.0; no new runs start (start a live version, or un-retire one)',
    });
    expect(chooseStartVersion(retired, 'notify')).toEqual({
      ok: false,
      reason: 'version_retired',
      message: 'every version of notify in the workflows directory is retired: 1.4.0, 1.0.0; no new runs start (start a live version, or un-retire one)',
    });
    // Many: the newest ten named, the rest counted.
    const many = wf(Array.from({ length: 12 }, (_, i) => v(`1.${i}.0`, { present: false })));
    expect(chooseStartVersion(many, 'notify', '^1')).toMatchObject({ reason: 'version_retired', message: expect.stringMatching(/^every version of notify matching \^1 is retired: 1\.11\.0 .*1\.2\.0 \(no longer in the workflows directory\) and 2 more;/) });
  });

  it('a disabled workflow starts nothing, migrated or not', () => {
    expect(chooseStartVersion(wf(set.versions, false), 'notify', '1.0.0')).toMatchObject({ ok: false, reason: 'workflow_disabled' });
  });
});
