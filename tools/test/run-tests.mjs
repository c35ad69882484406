// `npm test`: build dist/ (the e2e suites boot the compiled services), make sure a real PostgreSQL is
// reachable (DATABASE_URL when set, else an embedded one under tmp/), run every Jest project, and print
// a plain "N passed, N failed" summary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env }).status ?? 1;

if (run(process.execPath, ['tools/build/build.mjs']) !== 0) process.exit(1);

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
let embedded;
if (!env.DATABASE_URL) {
  const { startEmbeddedPostgres } = await import(path.join(root, 'dist/tools/stack/src/embedded-postgres.js'));
  embedded = await startEmbeddedPostgres({ dataDir: path.join(root, 'tmp/test-pg'), port: 54339, ephemeral: true });
  env.DATABASE_URL = embedded.url('postgres');
  console.log(`[test] embedded PostgreSQL at ${env.DATABASE_URL}`);
} else {
  console.log(`[test] PostgreSQL at ${env.DATABASE_URL}`);
}

mkdirSync(path.join(root, 'tmp'), { recursive: true });
const resultsFile = path.join(root, 'tmp/jest-results.json');
const jestArgs = [
  'node_modules/jest/bin/jest.js', '--ci', '--maxWorkers=2', '--json', `--outputFile=${resultsFile}`,
  ...process.argv.slice(2),
];
const status = run(process.execPath, jestArgs, env);

if (embedded) await embedded.stop();
try {
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
  if (r.numTotalTests === 0) process.exit(1);
} catch {
  console.log('\n0 passed, 1 failed');
}
process.exit(status);
