// Test-only: a minimal service built exactly like the real ones (ServiceKitModule + configureApp), with one
// table, a write endpoint, a read endpoint and a slow endpoint, listening on a real port.
import { Body, Controller, Get, HttpCode, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InjectDataSource } from '@nestjs/typeorm';
import { RequesterId, REQUESTER_IDS } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, RequireOperation, TokenIssuer } from '@pancha/governance';
import { IsOptional, IsString } from 'class-validator';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { startService } from './bootstrap';
import { BaseServiceConfig, validateEnv } from './config/env.validation';
import { ServiceKitModule } from './service-kit.module';

class CreateThings1000000000000 implements MigrationInterface {
  name = 'CreateThings1000000000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL, requester text NOT NULL)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE things');
  }
}

class ThingDto {
  @IsString()
  name!: string;

  @IsOptional() @IsString()
  note?: string;
}

/** Shaped like Core: anonymous may `submit` and `read`, prana may too with a token (config/policy.yaml). */
@Controller()
class ThingsController {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  @RequireOperation('submit')
  @Post('things')
  async create(@Body() body: ThingDto): Promise<{ name: string }> {
    await this.db.query('INSERT INTO things (name, requester) VALUES ($1, $2)', [body.name, 'any']);
    return { name: body.name };
  }

  @RequireOperation('read')
  @Get('things')
  async list(): Promise<{ count: number }> {
    const [row] = (await this.db.query('SELECT count(*)::int AS count FROM things')) as { count: number }[];
    return row;
  }

  /** Answers after `ms`: a handler slower than the request timeout must still be answered. */
  @RequireOperation('submit')
  @Post('slow')
  @HttpCode(200)
  async slow(@Body() body: { ms?: number }): Promise<{ waited: number }> {
    const ms = Number(body.ms ?? 0);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { waited: ms };
  }
}

export interface EdgeTestApp {
  app: INestApplication;
  url: string;
  port: number;
  config: BaseServiceConfig;
  things(): Promise<number>;
  close(): Promise<void>;
}

/** One key directory per test file; every requester's pair, as the stack launcher makes them. */
export function testKeysDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-keys-'));
  ensureKeyPairs(dir, REQUESTER_IDS);
  return dir;
}

/** A fresh token per request, as the typed clients mint them. */
export function tokenAs(keysDir: string, who: RequesterId = RequesterId.Prana, audience: 'core' = 'core'): Promise<string> {
  return new TokenIssuer(loadKeyStore(who, { PANCHA_KEYS_DIR: keysDir })).issue(audience);
}

export async function startEdgeApp(options: {
  databaseUrl: string;
  keysDir: string;
  env?: Record<string, string>;
  logDestination?: Writable;
}): Promise<EdgeTestApp> {
  const config = validateEnv(BaseServiceConfig, {
    DATABASE_URL: options.databaseUrl,
    PANCHA_KEYS_DIR: options.keysDir,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const moduleRef = await Test.createTestingModule({
    imports: [
      ServiceKitModule.forRoot({
        service: 'core',
        self: RequesterId.Core,
        config,
        database: { entities: [], migrations: [CreateThings1000000000000] },
        logDestination: options.logDestination,
      }),
    ],
    controllers: [ThingsController],
  }).compile();
  const app = await startService(moduleRef.createNestApplication({ bodyParser: false }), { port: 0, host: '127.0.0.1' });
  const { port } = app.getHttpServer().address() as AddressInfo;
  const db = app.get(DataSource);
  return {
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    config,
    async things() {
      const [row] = (await db.query('SELECT count(*)::int AS count FROM things')) as { count: number }[];
      return row.count;
    },
    close: () => app.close(),
  };
}
