/**
 * `npm run bench -- --wakeup`: what one cross-process round trip costs in CPU on this machine, back to back and
 * paced (the peer goes idle between messages, as a service does below saturation).
 *
 * Two pairs: a Node client and a Node echo server over loopback TCP (100-byte messages, Nagle off), and a Node
 * client and its PostgreSQL backend (`SELECT 1`, DATABASE_URL). For each gap between round trips it prints the CPU
 * (user + system, from process.cpuUsage and /proc) each side used per round trip. The difference between gap 0 and
 * the paced rows is the price of waking an idle process, which a service pays per message, per SQL statement and
 * per timer below saturation: it is why CPU per task grows as the rate falls (docs/ARCHITECTURE.md, "Why CPU per
 * task grows as the rate falls").
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Client } from 'pg';
import { cpuSeconds, runBench } from './bench-support';

const GAPS_MS = [0, 1, 5, 20];
/** Round trips per row: enough CPU ticks to read (10 ms each), bounded to ~10 s per paced row. */
const roundTrips = (gapMs: number) => (gapMs === 0 ? 20_000 : Math.min(2_000, Math.round(10_000 / gapMs)));

const ECHO_SERVER = `
  const server = require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

interface Row {
  gapMs: number;
  count: number;
  clientUs: number;
  peerUs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `roundTrip` per gap, charging the client's CPU and the peer's (`peerCpu`, seconds). */
async function measure(roundTrip: () => Promise<void>, peerCpu: () => number): Promise<Row[]> {
  for (let i = 0; i < 2_000; i++) await roundTrip(); // warm-up
  const rows: Row[] = [];
  for (const gapMs of GAPS_MS) {
    const count = roundTrips(gapMs);
    const client0 = process.cpuUsage();
    const peer0 = peerCpu();
    for (let i = 0; i < count; i++) {
      await roundTrip();
      if (gapMs > 0) await sleep(gapMs);
    }
    const client = process.cpuUsage(client0);
    rows.push({ gapMs, count, clientUs: (client.user + client.system) / count, peerUs: ((peerCpu() - peer0) * 1e6) / count });
  }
  return rows;
}

async function echoPair(): Promise<Row[]> {
  const server = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      server.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
    });
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.setNoDelay(true);
    const message = Buffer.alloc(100, 1);
    const rows = await measure(
      () =>
        new Promise<void>((resolve) => {
          socket.once('data', () => resolve());
          socket.write(message);
        }),
      () => cpuSeconds(server.pid),
    );
    socket.destroy();
    return rows;
  } finally {
    server.kill();
  }
}

async function postgresPair(url: string): Promise<Row[]> {
  const client = new Client({ connectionString: url, application_name: 'bench-wakeup' });
  await client.connect();
  try {
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    return await measure(
      async () => {
        await client.query('SELECT 1');
      },
      () => cpuSeconds(backend),
    );
  } finally {
    await client.end();
  }
}

function print(label: string, peer: string, rows: Row[]): void {
  console.log(`\n${label}`);
  console.log(`  gap between round trips   round trips   client CPU per round trip   ${peer} CPU per round trip`);
  for (const r of rows) {
    console.log(
      `  ${`${r.gapMs} ms`.padEnd(25)} ${String(r.count).padStart(11)}   ${`${r.clientUs.toFixed(0)} µs`.padStart(25)}   ${`${r.peerUs.toFixed(0)} µs`.padStart(24)}`,
    );
  }
}

export function runWakeupBench(): void {
  runBench('bench --wakeup', async () => {
    print('Node ⇄ Node echo over loopback TCP (100 bytes)', 'server', await echoPair());
    const url = process.env.DATABASE_URL;
    if (url) print('Node ⇄ its PostgreSQL backend (SELECT 1)', 'backend', await postgresPair(url));
    else console.log('\n(DATABASE_URL unset: the PostgreSQL pair is skipped)');
    return true;
  });
}
