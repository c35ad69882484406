// Finding 7 (replay) and finding 9 (failed authentications), at the guard: a write's token is single-use,
// a read's token may be reused, and a client that keeps failing authentication is answered 429.
import { Controller, Get, Post, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequesterId } from '@pancha/contracts';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { ClaimTokenWithWrite, RequireCredential, RequireOperation } from './governance.decorators';
import { GovernanceModule } from './governance.module';
import { generatePairs, keyStoreFor, repoPolicy } from './governance.test-helpers';
import { TokenIssuer } from './token-issuer.service';
import { InMemoryTokenReplayStore, TakenTokens } from './token-replay.store';

@Controller()
class BucketLikeController {
  writes = 0;

  @RequireOperation('read')
  @Get('events')
  read(): { ok: true } {
    return { ok: true };
  }

  @RequireOperation('write')
  @Post('events')
  write(): { writes: number } {
    return { writes: ++this.writes };
  }
}

/** Handlers that claim their token with their write, as Core's POST /handle_task does (here: they claim nothing). */
@Controller()
class ClaimsWithWriteController {
  @RequireOperation('submit')
  @ClaimTokenWithWrite()
  @Post('writes')
  write(): { ok: true } {
    return { ok: true };
  }

  @RequireOperation('submit')
  @Post('guarded')
  guarded(): { ok: true } {
    return { ok: true };
  }
}

@Controller()
class CoreLikeController {
  @RequireOperation('read')
  @Get('tasks')
  tasks(): { ok: true } {
    return { ok: true };
  }

  @RequireOperation('read')
  @RequireCredential()
  @Get('outbox/stats')
  stats(): { ok: true } {
    return { ok: true };
  }
}

/** Blocks a client after `limit` failures, as service-kit's throttler-backed limiter does. */
class CountingLimiter extends AuthFailureLimiter {
  readonly failures = new Map<string, number>();
  constructor(private readonly limit: number) {
    super();
  }
  async recordFailure(client: string): Promise<number | undefined> {
    const n = (this.failures.get(client) ?? 0) + 1;
    this.failures.set(client, n);
    return n > this.limit ? 42 : undefined;
  }
}

const pairs = generatePairs();
const core = new TokenIssuer(keyStoreFor(RequesterId.Core, pairs));

async function boot(
  service: 'bucket' | 'core',
  controller: new (...args: never[]) => unknown,
  extra: { limiter?: AuthFailureLimiter } = {},
): Promise<INestApplication> {
  const self = service === 'bucket' ? RequesterId.Bucket : RequesterId.Core;
  const moduleRef = await Test.createTestingModule({
    imports: [
      GovernanceModule.forRoot({
        service,
        self,
        keyStore: keyStoreFor(self, pairs),
        policy: repoPolicy(),
        ...(extra.limiter ? { authFailureLimiter: { useFactory: () => extra.limiter as AuthFailureLimiter } } : {}),
      }),
    ],
    controllers: [controller],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('token replay (ServiceAuthGuard + TokenReplayStore)', () => {
  let app: INestApplication;
  beforeAll(async () => (app = await boot('bucket', BucketLikeController)));
  afterAll(() => app.close());

  it('refuses a write token presented a second time with 401 token_replayed; the handler runs once', async () => {
    const auth = `Bearer ${await core.issue('bucket')}`;
    await request(app.getHttpServer()).post('/events').set('Authorization', auth).expect(201, { writes: 1 });
    const res = await request(app.getHttpServer()).post('/events').set('Authorization', auth).expect(401);
    expect(res.body).toMatchObject({ code: 'token_replayed' });
    expect(res.body.message).toMatch(/already used; every write needs a fresh token/);
    expect(app.get(BucketLikeController).writes).toBe(1);
  });

  it('accepts every write with a fresh token', async () => {
    const before = app.get(BucketLikeController).writes;
    for (let i = 0; i < 3; i++) {
      await request(app.getHttpServer()).post('/events').set('Authorization', `Bearer ${await core.issue('bucket')}`).expect(201);
    }
    expect(app.get(BucketLikeController).writes).toBe(before + 3);
  });

  it('lets a read token be reused within its lifetime (an operator curl with a printed token)', async () => {
    const auth = `Bearer ${await core.issue('bucket')}`;
    for (let i = 0; i < 3; i++) await request(app.getHttpServer()).get('/events').set('Authorization', auth).expect(200);
  });

  it('does not consume a token on a read: the same token may then write once', async () => {
    const auth = `Bearer ${await core.issue('bucket')}`;
    await request(app.getHttpServer()).get('/events').set('Authorization', auth).expect(200);
    await request(app.getHttpServer()).post('/events').set('Authorization', auth).expect(201);
    await request(app.getHttpServer()).post('/events').set('Authorization', auth).expect(401);
  });
});

describe('@ClaimTokenWithWrite()', () => {
  let app: INestApplication;
  beforeAll(async () => (app = await boot('core', ClaimsWithWriteController)));
  afterAll(() => app.close());
  const prana = new TokenIssuer(keyStoreFor(RequesterId.Prana, pairs));
  const post = (path: string, auth: string) => request(app.getHttpServer()).post(path).set('Authorization', auth);

  it('leaves the shared claim to the handler, and refuses a second use on this process before the handler', async () => {
    const auth = `Bearer ${await prana.issue('core')}`;
    await post('/writes', auth).expect(201);
    const replay = await post('/writes', auth).expect(401);
    expect(replay.body).toMatchObject({ code: 'token_replayed', message: expect.stringMatching(/already used; every submit needs a fresh token/) });
    // The shared store (the guard's own claim, for another handler) never saw it: the handler's write would claim it.
    await post('/guarded', auth).expect(201);
    await post('/guarded', auth).expect(401);
  });

  it('lets exactly one of many concurrent uses of one token reach the handler', async () => {
    const auth = `Bearer ${await prana.issue('core')}`;
    // A listening server: supertest on an unbound one opens a server per request, which resets some of 8 at once.
    const server = app.getHttpServer() as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => fetch(`http://127.0.0.1:${port}/writes`, { method: 'POST', headers: { authorization: auth } })),
      );
      expect(answers.map((r) => r.status).sort()).toEqual([201, ...Array(7).fill(401)]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('InMemoryTokenReplayStore', () => {
  it('forgets a jti once its token has expired, and lets redeliveries with the same binding through', async () => {
    let now = 1_000_000;
    const store = new InMemoryTokenReplayStore(() => now);
    const use = { issuer: 'bhiv_core', jti: 'a', expiresAt: new Date(now + 65_000) };
    expect(await store.claim(use)).toBe(true);
    expect(await store.claim(use)).toBe(false);
    expect(await store.claim({ ...use, issuer: 'prana' })).toBe(true);
    expect(await store.claim({ ...use, jti: 'b', binding: 'PANCHA:7' })).toBe(true);
    expect(await store.claim({ ...use, jti: 'b', binding: 'PANCHA:7' })).toBe(true);
    expect(await store.claim({ ...use, jti: 'b', binding: 'PANCHA:8' })).toBe(false);
    expect(await store.claim({ ...use, jti: 'b' })).toBe(false);
    now += 66_000;
    expect(await store.claim(use)).toBe(true);
  });
});

describe('TakenTokens', () => {
  it('takes a token once until it expires, and sweeps expired ones in the order taken', () => {
    let now = 1_000_000;
    const taken = new TakenTokens(() => now);
    const use = (jti: string, ttl: number) => ({ issuer: 'prana', jti, expiresAt: new Date(now + ttl) });
    const short = use('short', 10_000);
    const long = use('long', 120_000);
    expect(taken.take(short)).toBe(true);
    expect(taken.take(short)).toBe(false);
    expect(taken.take({ ...short, issuer: 'bhiv_core' })).toBe(true);
    expect(taken.take(long)).toBe(true);
    expect(taken.size).toBe(3);
    now += 11_000;
    // Expired: may be taken again (a token refused anyway by then), and the two taken before `long` are swept.
    expect(taken.take(short)).toBe(true);
    expect(taken.size).toBe(2);
    expect(taken.take(long)).toBe(false);
    now += 110_000;
    expect(taken.take(use('later', 10_000))).toBe(true);
    expect(taken.size).toBe(1);
  });
});

describe('@RequireCredential()', () => {
  let app: INestApplication;
  beforeAll(async () => (app = await boot('core', CoreLikeController)));
  afterAll(() => app.close());

  it('401s an anonymous caller even where the policy grants anonymous the operation', async () => {
    await request(app.getHttpServer()).get('/tasks').expect(200);
    const res = await request(app.getHttpServer()).get('/outbox/stats').expect(401);
    expect(res.body).toMatchObject({ code: 'unauthenticated', message: 'a bearer token is required' });
  });

  it('admits a verified requester the policy allows to read', async () => {
    const prana = new TokenIssuer(keyStoreFor(RequesterId.Prana, pairs));
    await request(app.getHttpServer()).get('/outbox/stats').set('Authorization', `Bearer ${await prana.issue('core')}`).expect(200);
  });
});

describe('failed authentications (ServiceAuthGuard + AuthFailureLimiter)', () => {
  const limiter = new CountingLimiter(3);
  let app: INestApplication;
  beforeAll(async () => (app = await boot('bucket', BucketLikeController, { limiter })));
  afterAll(() => app.close());

  it('answers 401 up to the limit, then 429 rate_limited with Retry-After, for bad, missing and replayed credentials', async () => {
    const http = () => request(app.getHttpServer());
    await http().get('/events').set('Authorization', 'Bearer forged').expect(401);
    await http().get('/events').expect(401);
    const auth = `Bearer ${await core.issue('bucket')}`;
    await http().post('/events').set('Authorization', auth).expect(201);
    await http().post('/events').set('Authorization', auth).expect(401);
    const res = await http().get('/events').set('Authorization', 'Bearer forged').expect(429);
    expect(res.headers['retry-after']).toBe('42');
    expect(res.body).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/retry after 42 s/) });
    expect([...limiter.failures.values()]).toEqual([4]);
  });

  it('does not count successful or forbidden requests', async () => {
    const before = [...limiter.failures.values()].reduce((a, b) => a + b, 0);
    await request(app.getHttpServer()).get('/events').set('Authorization', `Bearer ${await core.issue('bucket')}`).expect(200);
    const executor = new TokenIssuer(keyStoreFor(RequesterId.WorkflowExecutor, pairs));
    await request(app.getHttpServer()).get('/events').set('Authorization', `Bearer ${await executor.issue('bucket')}`).expect(403);
    expect([...limiter.failures.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });
});
