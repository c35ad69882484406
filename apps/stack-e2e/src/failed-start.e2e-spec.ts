/**
 * A service that cannot start says why. Each service's compiled main.ts is started on a port another process holds:
 * it exits 1 having printed the failure (EADDRINUSE, naming the port) and what it logged before it. The app buffers
 * its first log lines until HTTP listens, and Karma and the executor used to log the failure into that buffer and
 * exit: they printed nothing at all, and `npm start` showed an empty log tail.
 */
import { createTestDatabase, createTestKeys, type TestDatabase, type TestKeys } from '@pancha/testing';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import path from 'node:path';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../../..');

function run(service: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, `dist/apps/${service}/src/main.js`)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('a service that cannot start', () => {
  let taken: Server;
  let port: number;
  let keys: TestKeys;
  const databases: TestDatabase[] = [];

  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as AddressInfo).port;
    keys = createTestKeys('failed-start');
  });

  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
    keys.remove();
    for (const db of databases) await db.drop();
  });

  it.each(['karma', 'bucket', 'core', 'workflow-executor'])('%s exits 1 and prints why (the port taken), with the lines it logged before', async (service) => {
    const db = await createTestDatabase(`failed_start_${service}`);
    databases.push(db);
    const { code, output } = await run(service, { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, PANCHA_KEYS_DIR: keys.dir });
    expect(code).toBe(1);
    expect(output).toContain(`failed to start: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    // The buffered lines of the start before it, which Nest prints only once HTTP listens.
    expect(output).toContain('Starting Nest application');
  });
});
