// Product isolation (T9) on the executor's reads: GET /api/tasks and GET /api/outbox show a caller only the
// products its credential names (the token's `products` claim narrows the policy's); rows of no product are
// shown only to callers that may see every product.
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { REQUESTER_IDS, RequesterId } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { AppModule } from '../app.module';
import { WorkflowExecutorConfig } from '../config/env.validation';

jest.setTimeout(60_000);

describe('workflow-executor reads apply the caller\'s product scope', () => {
  let db: TestDatabase;
  let keysDir: string;
  let app: INestApplication;

  /** A fresh Core token, optionally narrowed to `products`. */
  const token = (products?: string[]) =>
    new TokenIssuer(loadKeyStore(RequesterId.Core, process.env)).issue('workflow-executor', products ? { products } : {});
  const get = async (url: string, products?: string[]) =>
    request(app.getHttpServer()).get(url).set('authorization', `Bearer ${await token(products)}`);

  beforeAll(async () => {
    db = await createTestDatabase('executor_products');
    keysDir = mkdtempSync(path.join(tmpdir(), 'executor-products-keys-'));
    ensureKeyPairs(keysDir, [...REQUESTER_IDS]);
    process.env.PANCHA_KEYS_DIR = keysDir;
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
      WORKFLOW_EVENTS_ENABLED: 'false',
      WORKFLOW_BEHAVIORAL_TRACKING: 'false',
    };
    for (const name of ['SMTP_URL', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN']) delete env[name];
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env))] }).compile();
    app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
    configureApp(app);
    await app.init();

    // A task and a captured email in product "alpha", in product "beta", and in none.
    for (const product of ['alpha', 'beta', undefined]) {
      const name = product ?? 'none';
      for (const payload of [
        { action_type: 'task', title: `task of ${name}`, user_id: 'u-1', product },
        { action_type: 'email', recipient: `${name}@example.com`, subject: 's', body: `mail of ${name}`, user_id: 'u-1', product },
      ]) {
        const res = await request(app.getHttpServer())
          .post('/api/workflow/execute')
          .set('authorization', `Bearer ${await token()}`)
          .send({ trace_id: `${name}-${payload.action_type}`, decision: 'workflow', data: { workflow_type: 'workflow', payload } });
        expect(res.body).toMatchObject({ status: 'success' });
      }
    }
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  const products = (rows: { product: string | null }[]) => rows.map((r) => r.product).sort();

  it('GET /api/tasks: everything for an unrestricted caller, only its products for a narrowed one', async () => {
    expect(products((await get('/api/tasks')).body.tasks)).toEqual(['alpha', 'beta', null]);
    const alpha = await get('/api/tasks', ['alpha']);
    expect(alpha.status).toBe(200);
    expect(alpha.body.tasks).toEqual([expect.objectContaining({ title: 'task of alpha', product: 'alpha' })]);
    expect(products((await get('/api/tasks?user_id=u-1', ['alpha', 'beta'])).body.tasks)).toEqual(['alpha', 'beta']);
    expect((await get('/api/tasks', ['gamma'])).body.tasks).toEqual([]);
  });

  it('GET /api/outbox: captured messages carry their product and are scoped the same way', async () => {
    const all = await get('/api/outbox');
    expect(products(all.body.messages)).toEqual(['alpha', 'beta', null]);
    const beta = await get('/api/outbox', ['beta']);
    expect(beta.body.messages).toEqual([
      expect.objectContaining({ recipient: 'beta@example.com', body: 'mail of beta', product: 'beta', status: 'CAPTURED', transport: 'capture' }),
    ]);
    expect((await get('/api/outbox?channel=email', ['gamma'])).body.messages).toEqual([]);
  });
});
