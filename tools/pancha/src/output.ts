/**
 * How the CLI prints: boxed tables and colours on a terminal, plain aligned columns (no colour, no box) when piped,
 * and `--json` for scripts. Human output goes to stdout; progress and errors to stderr.
 */
import Table from 'cli-table3';
import { createColors } from 'picocolors';

const stdoutTTY = process.stdout.isTTY === true;
const stderrTTY = process.stderr.isTTY === true;
const colourOn = process.env.FORCE_COLOR ? process.env.FORCE_COLOR !== '0' : stdoutTTY && !process.env.NO_COLOR;
export const colours = createColors(colourOn);

type Cell = string | number | boolean | null | undefined;

const PLAIN_CHARS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

function cellText(value: Cell): string {
  if (value === null || value === undefined || value === '') return '-';
  return String(value);
}

/** A table: boxed with a coloured header on a terminal, aligned columns otherwise (easy to grep and awk). */
export function table(head: string[], rows: Cell[][]): string {
  if (!colourOn && !stdoutTTY) {
    const t = new Table({ head, chars: PLAIN_CHARS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
    t.push(...rows.map((r) => r.map(cellText)));
    return t.toString().split('\n').map((l) => l.trimEnd()).join('\n');
  }
  const t = new Table({ head: head.map((h) => colours.bold(h)), style: { head: [], border: [] } });
  t.push(...rows.map((r) => r.map(cellText)));
  return t.toString();
}

/** `key  value` lines, keys aligned. */
export function fields(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${colours.dim(k.padEnd(width))}  ${cellText(v)}`).join('\n');
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A hint about the output (not part of it) on stderr, so piped output stays data: `pancha: <text>`, like warnings. */
export function hint(text: string): void {
  process.stderr.write(`pancha: ${text}\n`);
}

/** One line of progress on stderr, on a terminal only (rewritten in place); nothing when piped. */
export class Progress {
  private active = false;

  update(text: string): void {
    if (!stderrTTY) return;
    process.stderr.write(`\r\x1b[2K${colours.dim(text)}`);
    this.active = true;
  }

  done(): void {
    if (this.active) process.stderr.write('\r\x1b[2K');
    this.active = false;
  }
}

export function statusColour(status: string): string {
  switch (status) {
    case 'completed':
    case 'loaded':
    case 'passed':
    case 'enabled':
      return colours.green(status);
    case 'failed':
    case 'timed_out':
    case 'disabled':
      return colours.red(status);
    case 'cancelled':
    case 'pending':
      return colours.yellow(status);
    default:
      return status;
  }
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const unit = (big: number, bigName: string, small: number, smallName: string) => {
    const rest = Math.round((ms % big) / small);
    return `${Math.floor(ms / big)}${bigName}${rest > 0 ? `${rest}${smallName}` : ''}`;
  };
  if (ms < 3_600_000) return unit(60_000, 'm', 1000, 's');
  if (ms < 86_400_000) return unit(3_600_000, 'h', 60_000, 'm');
  return unit(86_400_000, 'd', 3_600_000, 'h');
}

export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '-' : `${(rate * 100).toFixed(1)}%`;
}

/** ISO timestamps shortened for a table (seconds, UTC). */
export function when(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}
