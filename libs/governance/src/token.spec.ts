import { RequesterId } from '@pancha/contracts';
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { createSecretKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { generatePairs, keyStoreFor, repoPolicy } from './governance.test-helpers';
import { TokenIssuer } from './token-issuer.service';
import { TokenVerificationError, TokenVerifier } from './token-verifier.service';

const pairs = generatePairs();
const policy = repoPolicy();
const coreIssuer = new TokenIssuer(keyStoreFor(RequesterId.Core, pairs));
const bucketVerifier = new TokenVerifier(keyStoreFor(RequesterId.Bucket, pairs), policy, 'bucket');

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A hand-made token, to exercise what our issuer would never produce. */
function craft(claims: JWTPayload, key = pairs[RequesterId.Core].privateKey, alg = 'EdDSA'): Promise<string> {
  const iat = nowSeconds();
  return new SignJWT({ iss: 'bhiv_core', sub: 'bhiv_core', aud: 'bucket', iat, exp: iat + 60, jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg })
    .sign(key);
}

async function rejection(token: string): Promise<string> {
  try {
    await bucketVerifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVerificationError);
    return (err as Error).message;
  }
  throw new Error('token was accepted');
}

describe('TokenIssuer', () => {
  it('issues an EdDSA JWT with iss = sub = self, aud, iat, exp = iat + 60 and a uuid jti', async () => {
    const token = await coreIssuer.issue('bucket');
    expect(decodeProtectedHeader(token).alg).toBe('EdDSA');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: 'bhiv_core', sub: 'bhiv_core', aud: 'bucket' });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(60);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(claims.products).toBeUndefined();
  });

  it('mints a new token with its own jti on every call (receivers refuse a reused jti on writes)', async () => {
    const now = 1_800_000_000_000;
    const issuer = new TokenIssuer(keyStoreFor(RequesterId.Core, pairs), { now: () => now });
    const first = await issuer.tokenFor('bucket');
    const second = await issuer.tokenFor('bucket');
    expect(second).not.toBe(first);
    expect(decodeJwt(second).jti).not.toBe(decodeJwt(first).jti);
    expect(decodeJwt(second).iat).toBe(decodeJwt(first).iat);
  });

  it('keeps tokens with different products claims apart', async () => {
    const a = await coreIssuer.issue('bucket', { products: ['gurukul'] });
    const b = await coreIssuer.issue('bucket', { products: ['vedic'] });
    expect(decodeJwt(a).products).toEqual(['gurukul']);
    expect(decodeJwt(b).products).toEqual(['vedic']);
  });

  it('refuses a lifetime above 120 s', () => {
    expect(() => new TokenIssuer(keyStoreFor(RequesterId.Core, pairs), { ttlSeconds: 121 })).toThrow(/1 to 120/);
  });
});

describe('TokenVerifier', () => {
  it('accepts a good token and returns the requester with its effective products', async () => {
    const token = await coreIssuer.issue('bucket');
    const { jti, exp } = decodeJwt(token);
    await expect(bucketVerifier.verify(token)).resolves.toEqual({
      id: 'bhiv_core',
      products: ['*'],
      tokenId: jti,
      tokenExpiresAt: new Date((Number(exp) + 5) * 1000),
    });
  });

  it('narrows products to the token claim', async () => {
    const token = await coreIssuer.issue('bucket', { products: ['gurukul'] });
    expect((await bucketVerifier.verify(token)).products).toEqual(['gurukul']);
  });

  it('rejects a token signed with a key that is not the pinned one (forged)', async () => {
    const forger = generateKeyPairSync('ed25519').privateKey;
    expect(await rejection(await craft({}, forger))).toBe('signature verification failed');
  });

  it('rejects a token for another audience', async () => {
    expect(await rejection(await coreIssuer.issue('karma'))).toMatch(/aud/);
  });

  it('rejects an expired token (beyond the 5 s tolerance)', async () => {
    const iat = nowSeconds() - 100;
    expect(await rejection(await craft({ iat, exp: iat + 90 }))).toBe('token expired');
  });

  it('accepts a token expired by less than the clock tolerance', async () => {
    const iat = nowSeconds() - 62;
    await expect(bucketVerifier.verify(await craft({ iat, exp: iat + 60 }))).resolves.toMatchObject({ id: 'bhiv_core' });
  });

  it('rejects alg none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ iss: 'bhiv_core', sub: 'bhiv_core', aud: 'bucket', iat: nowSeconds(), exp: nowSeconds() + 60, jti: 'x' }),
    ).toString('base64url');
    expect(await rejection(`${header}.${body}.`)).toMatch(/algorithm none/);
  });

  it('rejects HS256 even when keyed with the peer public key bytes', async () => {
    const secret = createSecretKey(pairs[RequesterId.Core].publicKey.export({ format: 'der', type: 'spki' }));
    expect(await rejection(await craft({}, secret as never, 'HS256'))).toMatch(/algorithm HS256/);
  });

  it('rejects a lifetime above 120 s', async () => {
    const iat = nowSeconds();
    expect(await rejection(await craft({ iat, exp: iat + 121 }))).toMatch(/lifetime 121 s/);
  });

  it('rejects iss ≠ sub', async () => {
    expect(await rejection(await craft({ sub: 'prana' }))).toMatch(/claim sub/);
  });

  it('rejects an issuer that is not a pinned peer', async () => {
    expect(await rejection(await craft({ iss: 'mallory', sub: 'mallory' }))).toMatch(/not a trusted peer/);
  });

  it('rejects a token without jti or exp', async () => {
    expect(await rejection(await craft({ jti: undefined }))).toMatch(/jti/);
    expect(await rejection(await craft({ exp: undefined }))).toMatch(/exp/);
  });

  it.each([
    ['256 characters', 'j'.repeat(256)],
    ['a NUL', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800b'],
    ['a space', 'a b'],
  ])('rejects a jti of %s: it could not be stored with the write it allows', async (_what, jti) => {
    expect(await rejection(await craft({ jti }))).toBe('token jti must be at most 255 visible ASCII characters');
  });

  it('rejects garbage', async () => {
    expect(await rejection('not.a.jwt')).toBe('malformed token');
  });
});
