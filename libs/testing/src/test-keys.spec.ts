import { RequesterId } from '@pancha/contracts';
import { loadKeyStore, PolicyService, TokenVerifier } from '@pancha/governance';
import { createTestKeys, testKeysAt, type TestKeys } from './test-keys';
import { decodeJwt } from 'jose';
import { existsSync } from 'node:fs';

describe('createTestKeys', () => {
  let keys: TestKeys;
  beforeAll(() => {
    keys = createTestKeys('spec');
  });
  afterAll(() => keys.remove());

  it('mints a new token per call: its own jti, signed as the requester for the audience', async () => {
    const first = await keys.mint(RequesterId.Core, 'bucket');
    const second = await keys.mint(RequesterId.Core, 'bucket');
    expect(second).not.toBe(first);
    expect(decodeJwt(second).jti).not.toBe(decodeJwt(first).jti);
    expect(decodeJwt(first)).toMatchObject({ iss: 'bhiv_core', sub: 'bhiv_core', aud: 'bucket' });

    const bucket = new TokenVerifier(loadKeyStore(RequesterId.Bucket, { PANCHA_KEYS_DIR: keys.dir }), PolicyService.fromEnv({}), 'bucket');
    expect((await bucket.verify(first)).id).toBe(RequesterId.Core);
  });

  it('carries a products claim and makes a bearer header', async () => {
    const header = await keys.bearer(RequesterId.Prana, 'bucket', { products: ['p1'] });
    expect(header).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(decodeJwt(header.slice(7))).toMatchObject({ sub: 'prana', products: ['p1'] });
  });

  it('reads keys it did not make without deleting them', () => {
    const other = testKeysAt(keys.dir);
    expect(other.publicKeyPem(RequesterId.Bucket)).toBe(keys.publicKeyPem(RequesterId.Bucket));
    other.remove();
    expect(existsSync(keys.dir)).toBe(true);
  });
});
