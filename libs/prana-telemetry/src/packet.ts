/// <reference lib="dom" />
/**
 * A packet every 5 s with the original client's fields. Each of the window's per-second evaluations counts as an
 * away, idle or active second; the three are scaled to the window so they always sum to exactly 5.0.
 */
import { FOCUS_SCORE_BASE, type FocusState } from './focus-state';
import type { RawSignals } from './signals';

export const PACKET_SECONDS = 5;

export type SystemType = 'gurukul' | 'ems';
export type PranaRole = 'student' | 'employee';

/** Who and where, fixed for a session of the client. */
export interface PacketContext {
  user_id: string;
  session_id: string;
  lesson_id: string;
  system_type: SystemType;
  role: PranaRole;
  /**
   * The product the packets belong to. PRANA requires one of the person's products when people are restricted to
   * some (config/policy.yaml `people.products`): a packet without one is refused there (422, `packets[i].product`).
   */
  product?: string;
}

export interface TelemetryPacket extends PacketContext {
  /** uuid: the server records a packet sent twice (a retry, a replayed queue) once. */
  event_id: string;
  /** End of the window, ISO 8601. */
  timestamp: string;
  cognitive_state: FocusState;
  active_seconds: number;
  idle_seconds: number;
  away_seconds: number;
  focus_score: number;
  raw_signals: RawSignals;
}

export type SecondKind = 'active' | 'idle' | 'away';

/**
 * How one evaluated second counts: away when the tab is hidden or the window unfocused, idle when no input came
 * for `idleAfterMs` (a reader who has not touched anything for 30 s is not counted active), else active.
 */
export function classifySecond(state: FocusState, msSinceInput: number, idleAfterMs = 30_000): SecondKind {
  if (state === 'AWAY') return 'away';
  if (state === 'IDLE' || msSinceInput >= idleAfterMs) return 'idle';
  return 'active';
}

/** Split 5.0 s over the counted kinds in tenths, the rounding remainder given to the largest share. */
export function splitSeconds(kinds: readonly SecondKind[]): { active_seconds: number; idle_seconds: number; away_seconds: number } {
  const total = kinds.length;
  if (total === 0) return { active_seconds: 0, idle_seconds: 0, away_seconds: PACKET_SECONDS };
  const tenths = PACKET_SECONDS * 10;
  const count = (k: SecondKind) => kinds.filter((x) => x === k).length;
  const shares = (['active', 'idle', 'away'] as const).map((k) => ({ k, n: Math.floor((count(k) * tenths) / total), c: count(k) }));
  const rest = tenths - shares.reduce((s, x) => s + x.n, 0);
  shares.reduce((a, b) => (b.c > a.c ? b : a)).n += rest;
  const get = (k: SecondKind) => (shares.find((x) => x.k === k)?.n ?? 0) / 10;
  return { active_seconds: get('active'), idle_seconds: get('idle'), away_seconds: get('away') };
}

/**
 * focus_score: the state's base, minus penalties for restless input (rapid clicks, tab switches, a frantic mouse),
 * scaled by the share of the window that was active; an integer in 0..100.
 */
export function focusScore(state: FocusState, activeSeconds: number, raw: Pick<RawSignals, 'rapid_clicks' | 'tab_switches' | 'mouse_velocity_peak'>): number {
  const penalty = raw.rapid_clicks * 5 + raw.tab_switches * 10 + (raw.mouse_velocity_peak > 2500 ? 10 : 0);
  const score = Math.max(0, FOCUS_SCORE_BASE[state] - penalty) * (activeSeconds / PACKET_SECONDS);
  return Math.max(0, Math.min(100, Math.round(score)));
}

export function newEventId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  // Insecure contexts (plain http on a LAN name) lack randomUUID; getRandomValues is still there.
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function buildPacket(ctx: PacketContext, state: FocusState, kinds: readonly SecondKind[], raw: RawSignals, at: number): TelemetryPacket {
  const seconds = splitSeconds(kinds);
  const { product, ...rest } = ctx;
  return {
    event_id: newEventId(),
    ...rest,
    // Only when set: a packet of an unrestricted deployment carries no product key at all.
    ...(product ? { product } : {}),
    timestamp: new Date(at).toISOString(),
    cognitive_state: state,
    ...seconds,
    focus_score: focusScore(state, seconds.active_seconds, raw),
    raw_signals: raw,
  };
}
