import { Controller, Get, Inject, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { httpJson, queryRows } from './e2e-helpers';
import { createTestDatabase, testServerUrl } from './test-database';
import { createTestKeys } from './test-keys';
import { bootServiceWithDatabase, type ServiceEnv } from './test-service';

jest.setTimeout(60_000);

const ENV = Symbol('env');

@Controller()
class EnvController {
  constructor(@Inject(ENV) private readonly env: ServiceEnv) {}

  @Get('env')
  read() {
    const { DATABASE_URL, PANCHA_KEYS_DIR, LOG_LEVEL, EXTRA } = this.env;
    return { DATABASE_URL, PANCHA_KEYS_DIR, LOG_LEVEL, EXTRA };
  }
}

/** A service in miniature: what an app's `AppModule.forRoot(validateEnv(...))` is to the harness. */
@Module({})
class TinyAppModule {
  static forRoot(env: ServiceEnv): DynamicModule {
    return {
      module: TinyAppModule,
      imports: [TypeOrmModule.forRoot({ type: 'postgres', url: env.DATABASE_URL, synchronize: false })],
      controllers: [EnvController],
      providers: [{ provide: ENV, useValue: env }],
    };
  }
}

const databaseExists = async (name: string) =>
  (await queryRows(testServerUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;

describe('bootServiceWithDatabase', () => {
  it('boots the module from the environment it assembled: a fresh database, new keys, quiet logs, the test\'s variables over them', async () => {
    const service = await bootServiceWithDatabase({ module: (env) => TinyAppModule.forRoot(env), database: 'harness_fresh', env: { EXTRA: 'from the test' } });
    try {
      const seen = (await httpJson('GET', `${service.url}/env`)).body;
      expect(seen).toEqual({ DATABASE_URL: service.db.url, PANCHA_KEYS_DIR: service.keys.dir, LOG_LEVEL: 'silent', EXTRA: 'from the test' });
      expect(service.db.name).toMatch(/^t_harness_fresh_/);
      expect(await service.dataSource.query('SELECT current_database() AS name')).toEqual([{ name: service.db.name }]);
      expect(existsSync(service.keys.dir)).toBe(true);
    } finally {
      await service.close();
    }
    expect(await databaseExists(service.db.name)).toBe(false);
    expect(existsSync(service.keys.dir)).toBe(false);
  });

  it('leaves a database and keys the test passed in to the test, and lets env name another DATABASE_URL', async () => {
    const db = await createTestDatabase('harness_given');
    const keys = createTestKeys('harness-given');
    try {
      const service = await bootServiceWithDatabase({ module: (env) => TinyAppModule.forRoot(env), database: db, keys, env: { DATABASE_URL: `${db.url}?application_name=harness` } });
      expect((await httpJson('GET', `${service.url}/env`)).body.DATABASE_URL).toBe(`${db.url}?application_name=harness`);
      await service.close();
      expect(await databaseExists(db.name)).toBe(true);
      expect(existsSync(keys.dir)).toBe(true);
    } finally {
      await db.drop();
      keys.remove();
    }
  });

  it('a boot that fails leaves no database and no keys behind', async () => {
    const prefix = `harness_fails_${randomBytes(3).toString('hex')}`;
    await expect(
      bootServiceWithDatabase({
        module: () => {
          throw new Error('config refused');
        },
        database: prefix,
      }),
    ).rejects.toThrow('config refused');
    expect(await queryRows(testServerUrl(), `SELECT datname FROM pg_database WHERE datname LIKE $1`, [`t_${prefix}_%`])).toEqual([]);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`t_${prefix}_`))).toEqual([]);
  });
});
