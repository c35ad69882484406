import { RequesterId } from '@pancha/contracts';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { KeyStore } from './key-store';
import { loadPolicy, PolicyService } from './policy.service';

/** Test-only: one Ed25519 pair per requester id, as the stack launcher would generate them. */
export function generatePairs(): Record<RequesterId, { privateKey: KeyObject; publicKey: KeyObject }> {
  const pairs = {} as Record<RequesterId, { privateKey: KeyObject; publicKey: KeyObject }>;
  for (const id of Object.values(RequesterId)) pairs[id] = generateKeyPairSync('ed25519');
  return pairs;
}

/** A key store for `self` that pins every other generated public key. */
export function keyStoreFor(
  self: RequesterId,
  pairs: Record<RequesterId, { privateKey: KeyObject; publicKey: KeyObject }>,
): KeyStore {
  const peers = new Map<RequesterId, KeyObject>();
  for (const id of Object.values(RequesterId)) peers.set(id, pairs[id].publicKey);
  return new KeyStore(self, pairs[self].privateKey, peers);
}

/** The repository's real policy file, so tests pin what ships. */
export function repoPolicy(): PolicyService {
  return new PolicyService(loadPolicy(path.resolve(__dirname, '../../../config/policy.yaml')));
}
