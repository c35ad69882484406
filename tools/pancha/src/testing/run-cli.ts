import { spawn } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
const BIN = path.join(REPO_ROOT, 'bin/pancha.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pancha <args>` as a user would: the real bin script, a child process, piped output (not a TTY, so
 * plain tables unless FORCE_COLOR is set), and an environment of the test's choosing.
 */
export function pancha(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; /** close the read end at once, as `| head` does early */ closeStdout?: boolean } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, PANCHA_URL: undefined, PANCHA_TOKEN: undefined, PANCHA_KEYS_DIR: undefined, ...options.env })) {
      if (v !== undefined) env[k] = v;
    }
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (options.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Parsed stdout of a `--json` run. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions walk arbitrary bodies
export function json(result: CliResult): any {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`stdout is not JSON (status ${result.status}):\n${result.stdout}\n--- stderr:\n${result.stderr}`);
  }
}
