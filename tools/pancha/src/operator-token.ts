import 'reflect-metadata';
import { RequesterId } from '@pancha/contracts';
import { KeyStore, loadPrivateKey, privateKeyFile, TokenIssuer } from '@pancha/governance';

/** Mints operator tokens for Core with the operator's private key from `keysDir` (governance's own issuer). */
export function operatorIssuer(keysDir: string, ttlSeconds: number): TokenIssuer {
  const key = loadPrivateKey(RequesterId.Operator, { PANCHA_KEYS_DIR: keysDir, SERVICE_PRIVATE_KEY_FILE: privateKeyFile(keysDir, RequesterId.Operator) });
  return new TokenIssuer(new KeyStore(RequesterId.Operator, key, new Map()), { ttlSeconds });
}
