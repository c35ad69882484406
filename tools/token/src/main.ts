/**
 * Operator CLI: prints a service token, e.g. to call a service with curl as if you were Core.
 *
 *   npm run token -- --requester bhiv_core --audience bucket [--products a,b] [--ttl 60]
 *
 * Keys come from PANCHA_KEYS_DIR, else .data/keys under the current directory (the repository root under npm).
 */
// @pancha/contracts' DTO decorators (class-transformer) need the metadata polyfill before they load.
import 'reflect-metadata';
import { isRequesterId, isServiceName, REQUESTER_IDS, SERVICE_NAMES } from '@pancha/contracts';
import { KeyStore, loadPrivateKey, MAX_TOKEN_TTL_SECONDS, privateKeyFile, TokenIssuer } from '@pancha/governance';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `usage: npm run token -- --requester <id> --audience <service> [--products a,b] [--ttl seconds]
  --requester  ${REQUESTER_IDS.join(' | ')}
  --audience   ${SERVICE_NAMES.join(' | ')}
  --products   narrow the token to these products (the receiver's policy still applies)
  --ttl        lifetime in seconds, 1..${MAX_TOKEN_TTL_SECONDS} (default 60)
keys: $PANCHA_KEYS_DIR or ./.data/keys (<requester>.key.pem)`;

class UsageError extends Error {}

async function main(): Promise<string> {
  const { values } = parseArgs({
    options: {
      requester: { type: 'string' },
      audience: { type: 'string' },
      products: { type: 'string' },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const { requester, audience } = values;
  if (!isRequesterId(requester)) throw new UsageError(`--requester must be one of ${REQUESTER_IDS.join(', ')}`);
  if (!isServiceName(audience)) throw new UsageError(`--audience must be one of ${SERVICE_NAMES.join(', ')}`);
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_TOKEN_TTL_SECONDS)) {
    throw new UsageError(`--ttl must be an integer from 1 to ${MAX_TOKEN_TTL_SECONDS}`);
  }
  const products = values.products
    ?.split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');

  const keysDir = path.resolve(process.env.PANCHA_KEYS_DIR?.trim() || path.join(process.cwd(), '.data', 'keys'));
  const keyFile = privateKeyFile(keysDir, requester);
  if (!existsSync(keyFile)) {
    throw new Error(
      `No private key for ${requester}: ${keyFile} does not exist. ` +
        'Start the stack once (`npm start` generates the keys) or set PANCHA_KEYS_DIR to the keys directory.',
    );
  }
  const keys = new KeyStore(requester, loadPrivateKey(requester, { PANCHA_KEYS_DIR: keysDir }), new Map());
  return new TokenIssuer(keys, { ttlSeconds: ttl }).issue(audience, products ? { products } : undefined);
}

main()
  .then((token) => process.stdout.write(`${token}\n`))
  .catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`token: ${message}\n`);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${USAGE}\n`);
      process.exit(2);
    }
    process.exit(1);
  });
