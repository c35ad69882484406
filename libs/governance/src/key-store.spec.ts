import { RequesterId } from '@pancha/contracts';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureKeyPairs, loadKeyStore, privateKeyFile, publicKeyFile } from './key-store';

let root: string;
beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'keys-'))));
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('ensureKeyPairs', () => {
  it('generates missing pairs with private files 0600 in a 0700 directory, and keeps existing ones', () => {
    const dir = path.join(root, 'keys');
    expect(ensureKeyPairs(dir, [RequesterId.Core, RequesterId.Bucket])).toEqual(['bhiv_core', 'bucket']);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(privateKeyFile(dir, RequesterId.Core)).mode & 0o777).toBe(0o600);
    expect(readFileSync(privateKeyFile(dir, RequesterId.Core), 'utf8')).toContain('BEGIN PRIVATE KEY');
    expect(readFileSync(publicKeyFile(dir, RequesterId.Core), 'utf8')).toContain('BEGIN PUBLIC KEY');

    const before = readFileSync(privateKeyFile(dir, RequesterId.Core), 'utf8');
    expect(ensureKeyPairs(dir, [RequesterId.Core, RequesterId.Karma])).toEqual(['karma']);
    expect(readFileSync(privateKeyFile(dir, RequesterId.Core), 'utf8')).toBe(before);
  });
});

describe('loadKeyStore', () => {
  it('loads its own private key and every peer *.pub.pem from PANCHA_KEYS_DIR', () => {
    ensureKeyPairs(root, [RequesterId.Core, RequesterId.Bucket, RequesterId.WorkflowExecutor]);
    writeFileSync(path.join(root, 'checkpoint.pub.pem'), 'not a requester'); // ignored
    const keys = loadKeyStore(RequesterId.Bucket, { PANCHA_KEYS_DIR: root });
    expect(keys.self).toBe('bucket');
    expect(keys.peerIds().sort()).toEqual(['bhiv_core', 'bucket', 'workflow_executor']);
    expect(keys.peerKey('prana')).toBeUndefined();
    expect(keys.peerKey('mallory')).toBeUndefined();
  });

  it('takes SERVICE_PRIVATE_KEY and PEER_PUBLIC_KEYS (escaped newlines too) in production', () => {
    const own = generateKeyPairSync('ed25519');
    const peer = generateKeyPairSync('ed25519');
    const pem = (own.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/\n/g, '\\n');
    const keys = loadKeyStore(RequesterId.Karma, {
      SERVICE_PRIVATE_KEY: pem,
      PEER_PUBLIC_KEYS: JSON.stringify({ bhiv_core: peer.publicKey.export({ type: 'spki', format: 'pem' }) }),
    });
    expect(keys.peerIds()).toEqual(['bhiv_core']);
    expect(keys.publicKey.export({ type: 'spki', format: 'pem' })).toBe(own.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('names the variables to set when no private key is configured', () => {
    expect(() => loadKeyStore(RequesterId.Core, {})).toThrow(
      'No private key for bhiv_core: set PANCHA_KEYS_DIR (a directory holding bhiv_core.key.pem), SERVICE_PRIVATE_KEY (PEM) or SERVICE_PRIVATE_KEY_FILE',
    );
    expect(() => loadKeyStore(RequesterId.Core, { PANCHA_KEYS_DIR: root })).toThrow(/bhiv_core\.key\.pem does not exist \(from PANCHA_KEYS_DIR\)/);
  });

  it('names the variables to set when no peer key is configured', () => {
    const own = generateKeyPairSync('ed25519');
    const file = path.join(root, 'own.pem');
    writeFileSync(file, own.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => loadKeyStore(RequesterId.Core, { SERVICE_PRIVATE_KEY_FILE: file })).toThrow(/No peer public keys for bhiv_core: set PANCHA_KEYS_DIR/);
  });

  it('rejects a key that is not Ed25519 and unknown requester ids', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ed = generateKeyPairSync('ed25519');
    expect(() =>
      loadKeyStore(RequesterId.Core, {
        SERVICE_PRIVATE_KEY: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        PEER_PUBLIC_KEYS: JSON.stringify({ bucket: ed.publicKey.export({ type: 'spki', format: 'pem' }) }),
      }),
    ).toThrow(/private key of bhiv_core is rsa, expected an Ed25519 key/);
    expect(() =>
      loadKeyStore(RequesterId.Core, {
        SERVICE_PRIVATE_KEY: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        PEER_PUBLIC_KEYS: JSON.stringify({ mallory: ed.publicKey.export({ type: 'spki', format: 'pem' }) }),
      }),
    ).toThrow(/unknown requester "mallory"/);
  });
});
