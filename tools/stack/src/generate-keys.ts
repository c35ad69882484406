/**
 * `node dist/tools/stack/src/generate-keys.js <dir>`: writes an Ed25519 key pair per requester id
 * (<id>.key.pem mode 0600, <id>.pub.pem) into <dir>, keeping pairs that already exist. docker-compose's
 * one-shot `keys` service runs it against the shared keys volume.
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { REQUESTER_IDS } from '@pancha/contracts';
import { ensureKeyPairs } from '@pancha/governance';

function main(): void {
  const dir = process.argv[2];
  if (!dir || dir.startsWith('-')) {
    console.error('usage: node dist/tools/stack/src/generate-keys.js <keys-dir>');
    process.exit(2);
  }
  const target = path.resolve(dir);
  const generated = ensureKeyPairs(target, REQUESTER_IDS);
  const files = readdirSync(target).filter((f) => f.endsWith('.pem')).sort();
  console.log(
    `${generated.length ? `generated key pairs for ${generated.join(', ')}` : 'all key pairs already present'} in ${target}:\n` +
      files.map((f) => `  ${f}`).join('\n'),
  );
}

try {
  main();
} catch (error) {
  console.error(`could not generate keys: ${(error as Error).message}`);
  process.exit(1);
}
