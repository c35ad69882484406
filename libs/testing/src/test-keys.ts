import { REQUESTER_IDS, type RequesterId, type ServiceName, type TokenSource } from '@pancha/contracts';
import { ensureKeyPairs, KeyStore, privateKeyFile, publicKeyFile, TokenIssuer, type TokenClaims } from '@pancha/governance';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Key pairs for every requester id in one directory, and tokens minted from them. */
export interface TestKeys {
  /** The directory to hand a service as PANCHA_KEYS_DIR. */
  readonly dir: string;
  /**
   * A new token (its own jti, a full lifetime from now) signed as `who` for `audience`. Mint one per request,
   * as a service does: tokens live 60 s, and a write may refuse a jti it has seen before.
   */
  mint(who: RequesterId, audience: ServiceName, claims?: TokenClaims): Promise<string>;
  /** `Bearer <a new token>`, for an authorization header. */
  bearer(who: RequesterId, audience: ServiceName, claims?: TokenClaims): Promise<string>;
  /** A TokenSource (what clients and publishers take) that mints a new token as `who` on every call. */
  tokensFor(who: RequesterId): TokenSource;
  publicKeyPem(who: RequesterId): string;
  /** Deletes the directory (only when createTestKeys made it). */
  remove(): void;
}

function keysIn(dir: string, owned: boolean): TestKeys {
  const stores = new Map<RequesterId, KeyStore>();
  const storeOf = (who: RequesterId): KeyStore => {
    let store = stores.get(who);
    if (!store) {
      store = new KeyStore(who, createPrivateKey(readFileSync(privateKeyFile(dir, who))), new Map());
      stores.set(who, store);
    }
    return store;
  };
  const mint = (who: RequesterId, audience: ServiceName, claims?: TokenClaims) =>
    // TokenIssuer.issue signs a new token (its own jti) on every call, as the services' clients do.
    new TokenIssuer(storeOf(who)).issue(audience, claims);
  return {
    dir,
    mint,
    bearer: async (who, audience, claims) => `Bearer ${await mint(who, audience, claims)}`,
    tokensFor: (who) => ({ tokenFor: (audience) => mint(who, audience) }),
    publicKeyPem: (who) => readFileSync(publicKeyFile(dir, who), 'utf8'),
    remove: () => {
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A temporary directory with a fresh Ed25519 pair for every requester id. */
export function createTestKeys(label = 'pancha'): TestKeys {
  const dir = mkdtempSync(path.join(tmpdir(), `${label}-keys-`));
  ensureKeyPairs(dir, REQUESTER_IDS);
  return keysIn(dir, true);
}

/** Tokens from keys that already exist (a started stack's `keysDir`). */
export function testKeysAt(dir: string): TestKeys {
  return keysIn(dir, false);
}
