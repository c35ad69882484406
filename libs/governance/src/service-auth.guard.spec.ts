import { Body, Controller, Get, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequesterId } from '@pancha/contracts';
import { SignJWT } from 'jose';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { Public, RequireOperation, Requester } from './governance.decorators';
import { assertBodyRequester } from './governance.exception';
import { GovernanceModule } from './governance.module';
import { generatePairs, keyStoreFor, repoPolicy } from './governance.test-helpers';
import { TokenIssuer } from './token-issuer.service';
import type { VerifiedRequester } from './verified-requester';

@Controller()
class BucketLikeController {
  @Public()
  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @RequireOperation('read')
  @Get('core/events')
  events(@Requester() requester: VerifiedRequester): VerifiedRequester {
    return requester;
  }

  @RequireOperation('write')
  @Post('core/write-event')
  write(@Body() body: { requester_id?: unknown }, @Requester() requester: VerifiedRequester): { ok: true } {
    assertBodyRequester(body.requester_id, requester);
    return { ok: true };
  }

  @Get('undeclared')
  undeclared(): string {
    return 'should never be reached';
  }
}

const pairs = generatePairs();
const tokensOf = (id: RequesterId): TokenIssuer => new TokenIssuer(keyStoreFor(id, pairs));

describe('ServiceAuthGuard (Bucket-like service with the shipped policy)', () => {
  let app: INestApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        GovernanceModule.forRoot({
          service: 'bucket',
          self: RequesterId.Bucket,
          keyStore: keyStoreFor(RequesterId.Bucket, pairs),
          policy: repoPolicy(),
        }),
      ],
      controllers: [BucketLikeController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(() => app.close());

  const http = () => request(app.getHttpServer());
  const bearer = async (id: RequesterId, audience: 'bucket' | 'karma' = 'bucket', products?: string[]) =>
    `Bearer ${await tokensOf(id).issue(audience, products ? { products } : undefined)}`;

  it('leaves @Public() handlers open', async () => {
    await http().get('/health').expect(200, { status: 'ok' });
  });

  it('401 without a token when anonymous may not read', async () => {
    const res = await http().get('/core/events').expect(401);
    expect(res.body).toMatchObject({ code: 'unauthenticated', message: 'a bearer token is required' });
  });

  it('401 for a token signed by a key that is not pinned', async () => {
    const forged = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer('bhiv_core')
      .setSubject('bhiv_core')
      .setAudience('bucket')
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(generateKeyPairSync('ed25519').privateKey);
    const res = await http().get('/core/events').set('Authorization', `Bearer ${forged}`).expect(401);
    expect(res.body).toMatchObject({ code: 'unauthenticated', message: 'signature verification failed' });
  });

  it('401 for a token meant for another service and for a non-bearer credential', async () => {
    await http().get('/core/events').set('Authorization', await bearer(RequesterId.Core, 'karma')).expect(401);
    await http().get('/core/events').set('Authorization', 'Basic Ym9iOnNlY3JldA==').expect(401);
  });

  it('403 when the policy denies the operation: the executor cannot read Bucket', async () => {
    const res = await http().get('/core/events').set('Authorization', await bearer(RequesterId.WorkflowExecutor)).expect(403);
    expect(res.body).toMatchObject({ code: 'forbidden', message: 'requester workflow_executor may not read on bucket' });
  });

  it('200 when allowed, with the verified requester and its effective products', async () => {
    const res = await http().get('/core/events').set('Authorization', await bearer(RequesterId.Core, 'bucket', ['gurukul'])).expect(200);
    expect(res.body).toMatchObject({ id: 'bhiv_core', products: ['gurukul'] });
    expect(res.body.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lets the executor write, as itself only', async () => {
    const auth = await bearer(RequesterId.WorkflowExecutor);
    await http().post('/core/write-event').set('Authorization', auth).send({ requester_id: 'workflow_executor' }).expect(201);
    const res = await http()
      .post('/core/write-event')
      .set('Authorization', await bearer(RequesterId.WorkflowExecutor))
      .send({ requester_id: 'bhiv_core' })
      .expect(403);
    expect(res.body.code).toBe('requester_mismatch');
  });

  it('denies a handler that declares no operation, even to a valid caller', async () => {
    const res = await http().get('/undeclared').set('Authorization', await bearer(RequesterId.Core)).expect(403);
    expect(res.body.code).toBe('forbidden');
  });
});

describe('ServiceAuthGuard (Core-like service: anonymous may submit)', () => {
  @Controller()
  class CoreLikeController {
    @RequireOperation('submit')
    @Post('handle_task')
    submit(@Requester() requester: VerifiedRequester): VerifiedRequester {
      return requester;
    }

    @RequireOperation('execute')
    @Post('admin')
    admin(): string {
      return 'no';
    }
  }

  let app: INestApplication;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        GovernanceModule.forRoot({ service: 'core', self: RequesterId.Core, keyStore: keyStoreFor(RequesterId.Core, pairs), policy: repoPolicy() }),
      ],
      controllers: [CoreLikeController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(() => app.close());

  it('admits an anonymous request for an operation the policy grants to anonymous', async () => {
    const res = await request(app.getHttpServer()).post('/handle_task').expect(201);
    expect(res.body).toEqual({ id: 'anonymous', products: [] });
  });

  it('still 401s an anonymous request for anything else', async () => {
    await request(app.getHttpServer()).post('/admin').expect(401);
  });

  it('does not fall back to anonymous when a bad token is presented', async () => {
    await request(app.getHttpServer()).post('/handle_task').set('Authorization', 'Bearer nope').expect(401);
  });
});

describe('GovernanceModule start-up', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'gov-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start with an invalid policy file, naming the problem', async () => {
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'services:\n  bucket:\n    bhiv_core: [read, destroy]\n');
    await expect(
      Test.createTestingModule({
        imports: [GovernanceModule.forRoot({ service: 'bucket', self: RequesterId.Bucket, keyStore: keyStoreFor(RequesterId.Bucket, pairs), config: { PANCHA_POLICY_FILE: file } })],
      }).compile(),
    ).rejects.toThrow(/services\.bucket\.bhiv_core: unknown operation destroy/);
  });

  it('refuses to start without keys, naming the variable', async () => {
    await expect(
      Test.createTestingModule({
        imports: [GovernanceModule.forRoot({ service: 'bucket', self: RequesterId.Bucket, policy: repoPolicy(), config: {} })],
      }).compile(),
    ).rejects.toThrow(/No private key for bucket: set PANCHA_KEYS_DIR/);
  });
});
