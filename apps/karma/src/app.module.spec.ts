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
});
