/**
 * Durations as manifests write them: `250ms`, `5s`, `10m`, `2h`, `2d`, and combinations such as `1h30m` or
 * `1.5h` (Go's time.ParseDuration grammar, with `d` for days and without µs/ns). A number is milliseconds.
 */

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const COMPONENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
const HINT = 'write it like 250ms, 5s, 10m, 2h, 2d or 1h30m';

/** Milliseconds (an integer) for a duration string or a number of milliseconds; throws DurationError otherwise. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new DurationError(`duration ${text} must be a non-negative number of milliseconds`);
    return checkRange(Math.round(text), String(text));
  }
  if (typeof text !== 'string') throw new DurationError(`duration must be a string or a number of milliseconds; ${HINT}`);
  const value = text.trim();
  if (value === '0') return 0;
  if (value === '') throw new DurationError(`duration is empty; ${HINT}`);
  // A unit-less string is almost always a mistake about the unit (was "30" seconds?), so it is refused.
  if (/^\d+(\.\d+)?$/.test(value)) throw new DurationError(`duration "${text}" has no unit; ${HINT}`);
  let total = 0;
  let offset = 0;
  const seen = new Set<string>();
  while (offset < value.length) {
    COMPONENT.lastIndex = offset;
    const match = COMPONENT.exec(value);
    if (!match) throw new DurationError(`invalid duration "${text}"; ${HINT}`);
    const unit = match[2];
    if (seen.has(unit)) throw new DurationError(`invalid duration "${text}": unit "${unit}" appears twice`);
    seen.add(unit);
    total += Number(match[1]) * UNIT_MS[unit];
    offset = COMPONENT.lastIndex;
  }
  return checkRange(Math.round(total), text);
}

function checkRange(ms: number, text: string): number {
  if (!Number.isSafeInteger(ms)) throw new DurationError(`duration "${text}" is too long`);
  return ms;
}

/** The shortest canonical form: 5_400_000 → `1h30m`, 250 → `250ms`, 0 → `0ms`. parseDuration(formatDuration(x)) === x. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new DurationError(`cannot format duration ${ms}`);
  let rest = Math.round(ms);
  if (rest === 0) return '0ms';
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms']) {
    const size = UNIT_MS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
