import { isRequesterId, RequesterId } from '@pancha/contracts';
import type { GovernanceSource } from './governance.config';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** This service's signing key and the pinned public keys of the peers it accepts tokens from. */
export class KeyStore {
  constructor(
    readonly self: RequesterId,
    readonly privateKey: KeyObject,
    private readonly peers: ReadonlyMap<RequesterId, KeyObject>,
  ) {
    assertEd25519(privateKey, `private key of ${self}`);
    for (const [id, key] of peers) assertEd25519(key, `public key of ${id}`);
  }

  /** Our own public key (e.g. to publish beside Bucket's signed checkpoints). */
  get publicKey(): KeyObject {
    return createPublicKey(this.privateKey);
  }

  /** The pinned key of `id`, or undefined when `id` is not a peer we trust. */
  peerKey(id: string): KeyObject | undefined {
    return isRequesterId(id) ? this.peers.get(id) : undefined;
  }

  peerIds(): RequesterId[] {
    return [...this.peers.keys()];
  }
}

function assertEd25519(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${what} is ${key.asymmetricKeyType ?? key.type}, expected an Ed25519 key`);
  }
}

export const privateKeyFile = (dir: string, id: RequesterId): string => path.join(dir, `${id}.key.pem`);
export const publicKeyFile = (dir: string, id: RequesterId): string => path.join(dir, `${id}.pub.pem`);

/**
 * Creates `dir` (0700) and an Ed25519 pair for every id that has no private key yet: `<id>.key.pem`
 * (PKCS#8, 0600) and `<id>.pub.pem` (SPKI). Existing keys are never replaced, so tokens and pinned keys
 * stay valid across restarts. Returns the ids whose pair was generated.
 */
export function ensureKeyPairs(dir: string, ids: readonly RequesterId[]): RequesterId[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const generated: RequesterId[] = [];
  for (const id of ids) {
    const keyFile = privateKeyFile(dir, id);
    const pubFile = publicKeyFile(dir, id);
    if (!existsSync(keyFile)) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
      generated.push(id);
    } else if (!existsSync(pubFile)) {
      const publicKey = createPublicKey(createPrivateKey(readFileSync(keyFile)));
      writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    }
  }
  return generated;
}

/** PEM from an env var may arrive with literal "\n" (dotenv files, Kubernetes literals). */
function pemFromEnv(value: string): string {
  return value.includes('-----BEGIN') && !value.includes('\n') ? value.replace(/\\n/g, '\n') : value;
}

function parseKey<T>(what: string, source: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(`${what} from ${source} is not a valid PEM key: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Our signing key alone (what the token CLI needs): SERVICE_PRIVATE_KEY, SERVICE_PRIVATE_KEY_FILE or PANCHA_KEYS_DIR. */
export function loadPrivateKey(self: RequesterId, env: GovernanceSource): KeyObject {
  const inline = env.SERVICE_PRIVATE_KEY;
  if (inline?.trim()) {
    return parseKey(`private key of ${self}`, 'SERVICE_PRIVATE_KEY', () => createPrivateKey(pemFromEnv(inline)));
  }
  const file = env.SERVICE_PRIVATE_KEY_FILE?.trim() || (env.PANCHA_KEYS_DIR?.trim() && privateKeyFile(env.PANCHA_KEYS_DIR.trim(), self));
  if (!file) {
    throw new Error(
      `No private key for ${self}: set PANCHA_KEYS_DIR (a directory holding ${self}.key.pem), ` +
        'SERVICE_PRIVATE_KEY (PEM) or SERVICE_PRIVATE_KEY_FILE',
    );
  }
  if (!existsSync(file)) {
    const variable = env.SERVICE_PRIVATE_KEY_FILE?.trim() ? 'SERVICE_PRIVATE_KEY_FILE' : 'PANCHA_KEYS_DIR';
    throw new Error(`No private key for ${self}: ${file} does not exist (from ${variable})`);
  }
  return parseKey(`private key of ${self}`, file, () => createPrivateKey(readFileSync(file)));
}

const PUB_SUFFIX = '.pub.pem';

function loadPublicKeysFromDir(dir: string, variable: string, into: Map<RequesterId, KeyObject>): void {
  if (!existsSync(dir)) throw new Error(`${variable}=${dir} does not exist`);
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(PUB_SUFFIX)) continue;
    const id = name.slice(0, -PUB_SUFFIX.length);
    // Other keys may share the directory (e.g. a checkpoint key); only requester ids are peers.
    if (!isRequesterId(id)) continue;
    const file = path.join(dir, name);
    into.set(id, parseKey(`public key of ${id}`, file, () => createPublicKey(readFileSync(file))));
  }
}

function loadPeerKeys(env: GovernanceSource): Map<RequesterId, KeyObject> {
  const peers = new Map<RequesterId, KeyObject>();
  if (env.PANCHA_KEYS_DIR?.trim()) loadPublicKeysFromDir(env.PANCHA_KEYS_DIR.trim(), 'PANCHA_KEYS_DIR', peers);
  if (env.PEER_PUBLIC_KEYS_DIR?.trim()) loadPublicKeysFromDir(env.PEER_PUBLIC_KEYS_DIR.trim(), 'PEER_PUBLIC_KEYS_DIR', peers);
  if (env.PEER_PUBLIC_KEYS?.trim()) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(env.PEER_PUBLIC_KEYS);
    } catch {
      throw new Error('PEER_PUBLIC_KEYS must be a JSON object { "<requester_id>": "<PEM>" }');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('PEER_PUBLIC_KEYS must be a JSON object { "<requester_id>": "<PEM>" }');
    }
    for (const [id, pem] of Object.entries(parsed)) {
      if (!isRequesterId(id)) {
        throw new Error(`PEER_PUBLIC_KEYS names unknown requester "${id}" (known: ${Object.values(RequesterId).join(', ')})`);
      }
      if (typeof pem !== 'string') throw new Error(`PEER_PUBLIC_KEYS.${id} must be a PEM string`);
      peers.set(id, parseKey(`public key of ${id}`, `PEER_PUBLIC_KEYS.${id}`, () => createPublicKey(pemFromEnv(pem))));
    }
  }
  return peers;
}

/**
 * Loads our private key and the pinned peer keys from the app's validated settings (see README):
 * PANCHA_KEYS_DIR for development and the stack launcher; SERVICE_PRIVATE_KEY[_FILE] and
 * PEER_PUBLIC_KEYS[_DIR] in production.
 * Fails with a message naming the variable to set.
 */
export function loadKeyStore(self: RequesterId, env: GovernanceSource): KeyStore {
  const privateKey = loadPrivateKey(self, env);
  const peers = loadPeerKeys(env);
  if (peers.size === 0) {
    throw new Error(
      `No peer public keys for ${self}: set PANCHA_KEYS_DIR (holding <requester_id>.pub.pem), ` +
        'PEER_PUBLIC_KEYS (JSON { requester_id: PEM }) or PEER_PUBLIC_KEYS_DIR',
    );
  }
  return new KeyStore(self, privateKey, peers);
}
