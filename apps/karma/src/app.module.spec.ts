import { validateEnv } from '@pancha/service-kit';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppModule } from './app.module';
import { DEFAULT_KARMA_CONFIG_FILE } from './config/karma-config';
import { KarmaConfig } from './config/env.validation';

describe('AppModule.forRoot', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'karma-app-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start with a bad model file, naming the file and the key', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, readFileSync(DEFAULT_KARMA_CONFIG_FILE, 'utf8').replace('alpha: 0.15', 'alpha: 2'));
    const config = validateEnv(KarmaConfig, { DATABASE_URL: 'postgres://127.0.0.1:1/karma', KARMA_CONFIG_FILE: file });
    expect(() => AppModule.forRoot(config)).toThrow(`Invalid Karma configuration ${file}:\n  q_learning.alpha: must be at most 1`);
  });

  it('builds with the shipped file', () => {
    const config = validateEnv(KarmaConfig, { DATABASE_URL: 'postgres://127.0.0.1:1/karma' });
    expect(AppModule.forRoot(config).module).toBe(AppModule);
  });

  it('runs the role sweep every minute by default, and refuses a bad interval or batch size, naming it', () => {
    const base = { DATABASE_URL: 'postgres://127.0.0.1:1/karma' };
    expect(validateEnv(KarmaConfig, base)).toMatchObject({ KARMA_ROLE_SWEEP_INTERVAL_MS: 60_000, KARMA_ROLE_SWEEP_BATCH_SIZE: 100 });
    expect(validateEnv(KarmaConfig, { ...base, KARMA_ROLE_SWEEP_INTERVAL_MS: '0' }).KARMA_ROLE_SWEEP_INTERVAL_MS).toBe(0);
    for (const [key, value] of [
      ['KARMA_ROLE_SWEEP_INTERVAL_MS', '-1'],
      ['KARMA_ROLE_SWEEP_INTERVAL_MS', '1.5'],
      ['KARMA_ROLE_SWEEP_INTERVAL_MS', 'soon'],
      ['KARMA_ROLE_SWEEP_INTERVAL_MS', '86400001'],
      ['KARMA_ROLE_SWEEP_BATCH_SIZE', '0'],
      ['KARMA_ROLE_SWEEP_BATCH_SIZE', '10001'],
    ]) {
      expect(() => validateEnv(KarmaConfig, { ...base, [key]: value })).toThrow(key);
    }
  });
});
