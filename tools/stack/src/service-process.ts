import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ServiceName } from '@pancha/contracts';

/** A launched process: one of the four services, or PRANA (the console's back end). */
export type ProcessName = ServiceName | 'prana';

export interface ServiceProcessSpec {
  name: ProcessName;
  port: number;
  /** Base URL the other services and the user reach it on. */
  url: string;
  /** Liveness path polled after launch (`/health`, the executor's `/healthz`). */
  healthPath: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Append stdout/stderr to this file; without it, lines go to the console prefixed `[name]`. */
  logFile?: string;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

const TAIL_LINES = 60;
const POLL_INTERVAL_MS = 250;
const PROBE_TIMEOUT_MS = 2000;
const COLORS: Record<ProcessName, number> = { karma: 35, bucket: 36, core: 32, 'workflow-executor': 33, prana: 34 };

/** Where stack messages (not service output) go; tools may use the console. */
export type StackLog = (line: string) => void;

/** One service as a child process: launch, log capture (file or prefixed console), health wait, stop. */
export class ServiceProcess {
  private child?: ChildProcess;
  private exit?: Promise<void>;
  private stopping = false;
  private exited = true;
  private readonly tail: string[] = [];
  private logStream?: WriteStream;

  constructor(
    readonly spec: ServiceProcessSpec,
    private readonly log: StackLog,
  ) {}

  get running(): boolean {
    return this.child !== undefined && !this.exited;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The last lines the service printed (stdout and stderr interleaved), for failure messages. */
  logTail(lines = 30): string {
    return this.tail.slice(-lines).join('\n');
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (await isPortTaken(this.spec.port)) {
      throw new Error(
        `port ${this.spec.port} for ${this.spec.name} is already in use (another stack or service running?). ` +
          `Stop it or choose other ports.`,
      );
    }
    this.stopping = false;
    if (this.spec.logFile && !this.logStream) this.logStream = createWriteStream(this.spec.logFile, { flags: 'a' });
    this.logStream?.write(`--- ${new Date().toISOString()} starting ${this.spec.name} on port ${this.spec.port}\n`);

    // Its own process group: a terminal Ctrl-C reaches only the launcher, which then stops the services in
    // reverse start order instead of all of them at once.
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    this.exited = false;
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        const how = signal ? `signal ${signal}` : `code ${code}`;
        this.logStream?.write(`--- ${new Date().toISOString()} ${this.spec.name} exited (${how})\n`);
        if (!this.stopping) this.log(`[stack] ${this.spec.name} exited unexpectedly (${how})`);
        resolve();
      });
      child.once('error', (error) => {
        this.exited = true;
        this.remember(`[stack] could not launch ${this.spec.name}: ${error.message}`);
        resolve();
      });
    });
    this.pipe(child.stdout, false);
    this.pipe(child.stderr, true);
  }

  /**
   * Polls the health path until it answers 200 and returns its body. Fails with the log tail when the
   * process exits first, the time runs out, or the caller aborts.
   */
  async waitHealthy(options: WaitOptions): Promise<unknown> {
    const url = `${this.spec.url}${this.spec.healthPath}`;
    const deadline = Date.now() + options.timeoutMs;
    let lastProblem = 'no answer yet';
    for (;;) {
      if (options.signal?.aborted) throw new Error(`start of ${this.spec.name} aborted`);
      if (!this.running) {
        throw new Error(`${this.spec.name} exited before becoming healthy. Last log lines:\n${this.logTail()}`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
        const text = await res.text();
        if (res.status === 200) return parseBody(text);
        lastProblem = `HTTP ${res.status} ${text.slice(0, 200)}`;
      } catch (error) {
        lastProblem = (error as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `${this.spec.name} did not become healthy at ${url} within ${Math.round(options.timeoutMs / 1000)} s ` +
            `(${lastProblem}). Last log lines:\n${this.logTail()}`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves once the process is gone. */
  async stop(graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || !this.running) {
      await this.exit;
      return;
    }
    this.stopping = true;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log(`[stack] ${this.spec.name} did not stop within ${graceMs / 1000} s: killing it`);
        child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exit, killed]);
    clearTimeout(timer);
    await this.exit;
  }

  /** SIGKILL at once (a crash, for recovery tests); resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    child.kill('SIGKILL');
    await this.exit;
  }

  /** Last resort from a process 'exit' handler: synchronous, no waiting. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  async closeLog(): Promise<void> {
    const stream = this.logStream;
    this.logStream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }

  private pipe(stream: NodeJS.ReadableStream | null, isErr: boolean): void {
    if (!stream) return;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      this.remember(line);
      if (this.logStream) {
        this.logStream.write(`${line}\n`);
      } else {
        const out = isErr ? process.stderr : process.stdout;
        out.write(`${prefix(this.spec.name, out.isTTY === true)} ${line}\n`);
      }
    });
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }
}

function prefix(name: ProcessName, color: boolean): string {
  return color ? `\x1b[${COLORS[name]}m[${name}]\x1b[0m` : `[${name}]`;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something already accepts connections on 127.0.0.1:port (a 0.0.0.0 listener included). */
export function isPortTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export function logFileFor(logDir: string, name: ProcessName): string {
  return path.join(logDir, `${name}.log`);
}
