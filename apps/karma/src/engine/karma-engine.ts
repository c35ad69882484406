import { KarmaEventReply, KarmaEventType, LifeEventReplyData } from '@pancha/contracts';
import type { KarmaModelConfig } from '../config/karma-config';
import type { KarmaStore, PublishedRole } from './karma-store';
import { decideAction, foldLedger, lokaFor, meritAt, nextRoleChangeAt, paapStates, roleFor } from '../model/karma-model';
import type { LedgerEntry, NewLedgerEntry } from '../model/ledger-entry';
import { buildProfile, buildUserStats, planIdOf, planView } from '../model/profile-view';
import { maxQ, qUpdatedValue, qValue } from '../model/q-learning';
import type { ParsedKarmaEvent } from './event-parser';
import { eventIdConflict, planClosed, planNotFound, userNotFound } from './karma.exception';

/**
 * Why a published role change happened: `event`, a recorded event moved merit across a threshold; `time`, the role
 * moved since the last published change with no event moving it (grants or penalties expiring, decay; a changed role
 * configuration looks the same), found by the user's next recorded event or by the scheduled sweep. A change held back
 * while router events were off is published once they are on again, with cause `event` when an event recorded meanwhile
 * moved the role (the last such event's id), `time` when time alone did.
 */
export type RoleChangeCause = 'event' | 'time';

/**
 * A user's derived role moved (published as `karma.role_changed`). Every change's `from` is the `to` of the previous
 * one published for the user (the stored last published role), so a subscriber's view of the role never skips a step.
 */
export interface RoleChange {
  /** The event id: a function of the ledger (see roleChangeId), never the id of another change. */
  id: string;
  userId: string;
  from: string;
  to: string;
  cause: RoleChangeCause;
  netKarma: number;
  merit: number;
  /** The seq of the event's first ledger entry (the sweep: the user's last entry, the ledger the role was derived from). */
  ledgerSeq: number;
  /** The event that recorded the change; null for a change the sweep found. */
  eventId: string | null;
  /** When the change was recorded (ms). */
  at: number;
}

/**
 * The event id of a change: `karma:role_changed:<seq>` for an event's own change (the seq of its first ledger entry),
 * `karma:role_changed:<seq>:time` for a change time made that the event found, `karma:role_changed:<seq>:time:<ms>` for
 * one the sweep found that happened at `ms` (`seq` the user's last entry: two changes of one ledger are told apart by
 * their moment).
 */
export function roleChangeId(ledgerSeq: number, found: 'event' | 'time' | { at: number }): string {
  const base = `karma:role_changed:${ledgerSeq}`;
  return found === 'event' ? base : found === 'time' ? `${base}:time` : `${base}:time:${found.at}`;
}

/**
 * How far back the sweep walks a user's ledger for the changes time made (KarmaEngine.sweep): a day, or three sweep
 * intervals when they are longer (roleSweepLookbackMs), so a row due just after a round is always walked from its
 * moment. A row due for longer (a sweep stopped that long, or the upgrade's rows due at the epoch) gets the changes
 * before that as one: the role at the look-back's start against the one published, dated then.
 */
export const ROLE_SWEEP_LOOKBACK_MS = 24 * 3_600_000;

/** The sweep's look-back for a sweep interval: ROLE_SWEEP_LOOKBACK_MS, or three intervals when that is longer. */
export function roleSweepLookbackMs(intervalMs: number): number {
  return Math.max(ROLE_SWEEP_LOOKBACK_MS, 3 * intervalMs);
}

export interface KarmaEngineOptions {
  /**
   * Role changes are published (KARMA_ROUTER_EVENTS_ENABLED): the engine returns them and advances the stored published
   * role. When false it returns none and the stored role stays the last one actually published, so the difference is
   * published once when they are turned on again.
   */
  publishRoleChanges: boolean;
}

/** What the sweep does for one user: the changes to publish, in the order they happened (often none), and the user's row to write. */
export interface SweepOutcome {
  changes: RoleChange[];
  row: PublishedRole;
}

export interface IngestResult {
  reply: KarmaEventReply;
  /** True when the event_id was already recorded and the first reply is returned unchanged. */
  replayed: boolean;
  /**
   * The role changes to publish for this (new) event, in order: at most one `time` change (the role the user had
   * when the event arrived differs from the last published one), then at most one `event` change. Empty on a replay.
   */
  roleChanges: RoleChange[];
}

type Handled = Omit<KarmaEventReply, 'status' | 'event_type' | 'timestamp'>;

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Turns one validated event into ledger entries, a Q-update and the reply, against a KarmaStore.
 * The caller guarantees exclusivity (the service runs it in a transaction holding the ledger lock), so the
 * order of calls is the ledger order and the order of Q-updates.
 *
 * Invariant the group commit relies on: every refusal (404, 409) is thrown before the first write to the
 * store, so a refused event leaves the batch it was part of untouched.
 */
export class KarmaEngine {
  constructor(
    readonly config: KarmaModelConfig,
    private readonly options: KarmaEngineOptions = { publishRoleChanges: true },
  ) {}

  async ingest(store: KarmaStore, event: ParsedKarmaEvent, now: number): Promise<IngestResult> {
    const existing = await store.findEvent(event.eventId);
    if (existing) {
      if (existing.fingerprint !== event.fingerprint || existing.type !== event.type) throw eventIdConflict(event.eventId);
      return { reply: existing.reply, replayed: true, roleChanges: [] };
    }
    const occurredAt = event.occurredAt ?? now;
    const handled = await this.handle(store, event, now, occurredAt);
    const reply: KarmaEventReply = { status: 'success', event_type: event.type, timestamp: iso(now), ...handled };
    // A stats_request writes nothing; it is remembered only when the caller asked for idempotency.
    if (event.type !== KarmaEventType.StatsRequest || event.clientEventId) {
      await store.saveEvent({
        eventId: event.eventId,
        type: event.type,
        userId: event.userId,
        fingerprint: event.fingerprint,
        source: event.source,
        occurredAt,
        recordedAt: now,
        reply,
      });
    }
    return { reply, replayed: false, roleChanges: await this.roleChanges(store, event, now) };
  }

  /**
   * The role changes an event that wrote ledger entries publishes, and the user's new row (same store, so same
   * transaction as the entries and the outbox). The role before the event is compared with the last published one
   * first: a role that moved since (time alone, or events while nothing was published) is published then, before the
   * event's own change, so each change's previous role is the role of the change published before it. The row also
   * gets the next moment time may move the role (the sweep's index). An event that wrote nothing (stats) publishes
   * nothing and leaves the row alone.
   */
  private async roleChanges(store: KarmaStore, event: ParsedKarmaEvent, now: number): Promise<RoleChange[]> {
    const cfg = this.config;
    const all = await store.userEntries(event.userId);
    const own = all.filter((e) => e.eventId === event.eventId);
    if (own.length === 0) return [];
    const prior = all.filter((e) => e.eventId !== event.eventId);
    const row = await store.publishedRole(event.userId);
    const published = row?.role ?? initialRole(cfg);
    const before = roleFor(cfg, meritAt(cfg, prior, now));
    const after = roleFor(cfg, meritAt(cfg, all, now));
    const seq = own[0].seq;
    const changes: RoleChange[] = [];
    if (published !== before) changes.push(this.heldBack(event.userId, published, before, prior, row, now, { ledgerSeq: seq, eventId: event.eventId }));
    if (before !== after) {
      const fold = foldLedger(cfg, all, now);
      changes.push({ id: roleChangeId(seq, 'event'), userId: event.userId, from: before, to: after, cause: 'event', netKarma: fold.netKarma, merit: fold.merit, ledgerSeq: seq, eventId: event.eventId, at: now });
    }
    let next: PublishedRole = row ?? { userId: event.userId, role: null, ledgerSeq: null, at: null, nextTimeChangeAt: null, unpublishedEventSeq: null };
    if (!this.options.publishRoleChanges) {
      // Nothing is published, so the stored role stays the last one that was; remember whether an event moved it.
      const marker = after === published ? null : before !== after ? seq : next.unpublishedEventSeq;
      next = { ...next, unpublishedEventSeq: marker };
    } else {
      // Published: the role is the one just published (or, with no change, the one before, which is `after`).
      next = changes.length > 0 ? { ...next, role: after, ledgerSeq: seq, at: now, unpublishedEventSeq: null } : { ...next, unpublishedEventSeq: null };
    }
    next = { ...next, nextTimeChangeAt: this.nextLook(all, next.role, now) };
    if (!sameRow(row, next)) await store.savePublishedRole(next);
    return this.options.publishRoleChanges ? changes : [];
  }

  /**
   * The scheduled sweep's step for one user whose row is due: every change of role time made since the row's last
   * write, each at the moment it happened, in order, so a role lost and won back between two rounds is published as
   * two changes, not as none. The walk starts where the role may first have moved (`nextTimeChangeAt`, never before the
   * user's last entry, nor more than `lookbackMs` before now: a row the upgrade made due at the epoch starts
   * there) and goes from one moment the role may move
   * (nextRoleChangeAt) to the next until now; each moment whose role differs from the one published before it is a
   * change (cause `time`; the first one `event` when an event moved the role while nothing was published). The row
   * gets the last change as its published role and the first moment after now that may move it. Nothing is published
   * and the role is left as it is when role changes are not published.
   */
  sweep(row: PublishedRole, entries: readonly LedgerEntry[], now: number, lookbackMs: number = ROLE_SWEEP_LOOKBACK_MS): SweepOutcome {
    const cfg = this.config;
    const published = row.role ?? initialRole(cfg);
    if (!this.options.publishRoleChanges) {
      const current = roleFor(cfg, meritAt(cfg, entries, now));
      if (current === published) return { changes: [], row: { ...row, unpublishedEventSeq: null, nextTimeChangeAt: nextRoleChangeAt(cfg, entries, now) } };
      // Left due where it is, so that once they are on the walk starts where the role moved.
      return { changes: [], row: { ...row } };
    }
    const lastAt = entries.reduce((m, e) => Math.max(m, e.at), Number.NEGATIVE_INFINITY);
    // No further back than ROLE_SWEEP_LOOKBACK_MS: a backlog (the upgrade's rows, due at the epoch; a long stop) is
    // published as the role at the look-back's start, not as every change of a year of history, each a start of the
    // workflows triggered on karma.role_changed.
    const start = Math.max(row.nextTimeChangeAt ?? now, lastAt, now - lookbackMs);
    const changes: RoleChange[] = [];
    let role = published;
    let at: number | null = start;
    while (at !== null && at <= now) {
      const current = roleFor(cfg, meritAt(cfg, entries, at));
      if (current !== role) {
        // Only a change found where the walk starts can be one an event made while nothing was published.
        changes.push(this.heldBack(row.userId, role, current, entries, at === start ? row : null, at, null));
        role = current;
      }
      at = nextRoleChangeAt(cfg, entries, at);
    }
    const last = changes[changes.length - 1];
    const next = { nextTimeChangeAt: at, unpublishedEventSeq: null };
    return { changes, row: last ? { ...row, ...next, role: last.to, ledgerSeq: last.ledgerSeq, at: last.at } : { ...row, ...next } };
  }

  /**
   * The change from the last published role to the role `entries` give as of `now` (for the sweep, the moment the
   * change happened; its merit and net karma are as of then), which no event being recorded made:
   * cause `event` with that event's id when an event recorded while nothing was published moved the role, else `time`,
   * with an id from the event that found it (`found`) or, for the sweep, from the user's last entry and the moment.
   */
  private heldBack(
    userId: string,
    from: string,
    to: string,
    entries: readonly LedgerEntry[],
    row: PublishedRole | null,
    now: number,
    found: { ledgerSeq: number; eventId: string } | null,
  ): RoleChange {
    const fold = foldLedger(this.config, entries, now);
    const base = { userId, from, to, netKarma: fold.netKarma, merit: fold.merit, at: now };
    const marker = row?.unpublishedEventSeq ?? null;
    if (marker !== null) {
      const eventId = entries.find((e) => e.seq === marker)?.eventId ?? null;
      return { ...base, id: roleChangeId(marker, 'event'), cause: 'event', ledgerSeq: marker, eventId };
    }
    if (found) return { ...base, id: roleChangeId(found.ledgerSeq, 'time'), cause: 'time', ...found };
    const last = entries.length ? entries[entries.length - 1].seq : 0;
    return { ...base, id: roleChangeId(last, { at: now }), cause: 'time', ledgerSeq: last, eventId: null };
  }

  /** When the sweep should look at the user next: now if the role already differs from the published one, else when time may move it. */
  private nextLook(entries: readonly LedgerEntry[], publishedRole: string | null, now: number): number | null {
    const cfg = this.config;
    if (roleFor(cfg, meritAt(cfg, entries, now)) !== (publishedRole ?? initialRole(cfg))) return now;
    return nextRoleChangeAt(cfg, entries, now);
  }

  private async handle(store: KarmaStore, event: ParsedKarmaEvent, now: number, occurredAt: number): Promise<Handled> {
    switch (event.type) {
      case KarmaEventType.LifeEvent:
        return this.lifeEvent(store, event, now, occurredAt);
      case KarmaEventType.Atonement:
        return this.atonement(store, event, now, occurredAt);
      case KarmaEventType.Appeal:
        return this.appeal(store, event, now, occurredAt);
      case KarmaEventType.DeathEvent:
        return this.death(store, event, now, occurredAt);
      case KarmaEventType.StatsRequest:
        return this.stats(store, event, now);
      default:
        return assertUnreachable(event);
    }
  }

  private async lifeEvent(
    store: KarmaStore,
    event: Extract<ParsedKarmaEvent, { type: KarmaEventType.LifeEvent }>,
    now: number,
    occurredAt: number,
  ): Promise<Handled> {
    const cfg = this.config;
    const entries = await store.userEntries(event.userId);
    const d = decideAction(cfg, entries, {
      eventId: event.eventId,
      userId: event.userId,
      action: event.action,
      at: now,
      occurredAt,
      details: event.details,
    });
    const appended = await store.append(d.entries);

    const q = await store.qTable([...new Set([d.roleBefore, d.roleAfter])]);
    const qBefore = qValue(q, d.roleBefore, event.action);
    const qAfter = qUpdatedValue(cfg, qBefore, d.reward, maxQ(cfg, q.get(d.roleAfter)));
    await store.saveQ(d.roleBefore, event.action, qAfter);

    const fold = foldLedger(cfg, [...entries, ...appended], now);
    const paapEntry = appended.find((e) => e.kind === 'paap');
    const data: LifeEventReplyData = {
      event_id: event.eventId,
      user_id: event.userId,
      action: event.action,
      grant: d.grant,
      capped: d.capped,
      paap: paapEntry ? { class: paapEntry.paapClass ?? '', plan_id: planIdOf(paapEntry.seq) } : null,
      cheat_count_30d: fold.penaltyCounts.cheat ?? 0,
      merit_before: d.meritBefore,
      merit_after: d.meritAfter,
      net_karma: fold.netKarma,
      role_before: d.roleBefore,
      role_after: d.roleAfter,
      q_update: { role: d.roleBefore, action: event.action, reward: d.reward, next_role: d.roleAfter, q_before: qBefore, q_after: qAfter },
      occurred_at: iso(occurredAt),
    };
    const what = d.grant ? `${d.grant.amount >= 0 ? '+' : ''}${d.grant.amount} ${d.grant.token}` : 'no tokens';
    return {
      message: `${event.action} recorded for ${event.userId}: ${what}${paapEntry ? `, ${paapEntry.paapClass} paap` : ''}${d.capped ? ' (daily cap reached)' : ''}`,
      data: data as unknown as Record<string, unknown>,
      routing_info: { handler: event.type, ledger_entries: appended.length, q_update: true },
    };
  }

  private async atonement(
    store: KarmaStore,
    event: Extract<ParsedKarmaEvent, { type: KarmaEventType.Atonement }>,
    now: number,
    occurredAt: number,
  ): Promise<Handled> {
    const cfg = this.config;
    const entries = await store.userEntries(event.userId);
    const seq = /^\d+$/.test(event.planId) ? Number(event.planId) : NaN;
    const state = paapStates(cfg, entries, now).find((s) => s.entry.seq === seq);
    if (!state) throw planNotFound(event.userId, event.planId);
    if (state.atonedAt !== null) throw planClosed(event.planId, 'atoned');
    if (state.expired) throw planClosed(event.planId, 'expired');

    const entry: NewLedgerEntry = {
      eventId: event.eventId,
      userId: event.userId,
      kind: 'atonement',
      action: state.entry.action,
      token: event.atonementType,
      amount: event.amount,
      paapClass: state.entry.paapClass,
      refSeq: state.entry.seq,
      details: event.details,
      at: now,
      occurredAt,
    };
    const appended = await store.append([entry]);
    const all = [...entries, ...appended];
    const after = paapStates(cfg, all, now).find((s) => s.entry.seq === seq);
    if (!after) throw new Error(`paap entry ${seq} vanished`);
    const netBefore = foldLedger(cfg, entries, now).netKarma;
    const netAfter = foldLedger(cfg, all, now).netKarma;
    const atoned = after.atonedAt !== null;
    return {
      message: atoned
        ? `atonement plan ${event.planId} of ${event.userId} met in full: the ${after.entry.paapClass} paap entry is atoned`
        : `atonement progress recorded for plan ${event.planId} of ${event.userId}`,
      data: {
        event_id: event.eventId,
        user_id: event.userId,
        plan_id: event.planId,
        atonement_type: event.atonementType,
        amount: event.amount,
        atoned,
        plan: planView(cfg, after),
        net_karma_before: netBefore,
        net_karma_after: netAfter,
        occurred_at: iso(occurredAt),
      },
      routing_info: { handler: event.type, ledger_entries: 1, q_update: false },
    };
  }

  private async appeal(
    store: KarmaStore,
    event: Extract<ParsedKarmaEvent, { type: KarmaEventType.Appeal }>,
    now: number,
    occurredAt: number,
  ): Promise<Handled> {
    const cfg = this.config;
    const entries = await this.requireUser(store, event.userId);
    const [appended] = await store.append([
      this.plainEntry(event, 'appeal', now, occurredAt, { action: event.action, details: event.context === null ? {} : { context: event.context } }),
    ]);
    // The plans the appellant can work off for this action: the original service answered an appeal with them.
    const plans = paapStates(cfg, entries, now)
      .filter((s) => s.open && s.entry.action === event.action)
      .map((s) => planView(cfg, s));
    return {
      message: `appeal of ${event.action} recorded for ${event.userId}`,
      data: { event_id: event.eventId, user_id: event.userId, action: event.action, appeal_seq: appended.seq, context: event.context, atonement_plans: plans },
      routing_info: { handler: event.type, ledger_entries: 1, q_update: false },
    };
  }

  private async death(
    store: KarmaStore,
    event: Extract<ParsedKarmaEvent, { type: KarmaEventType.DeathEvent }>,
    now: number,
    occurredAt: number,
  ): Promise<Handled> {
    const cfg = this.config;
    const entries = await this.requireUser(store, event.userId);
    const fold = foldLedger(cfg, entries, now);
    const loka = lokaFor(cfg, fold.netKarma);
    await store.append([this.plainEntry(event, 'death', now, occurredAt, { details: { loka, net_karma: fold.netKarma, merit: fold.merit } })]);
    return {
      message: `${event.userId} reaches ${loka} (net karma ${fold.netKarma})`,
      data: { event_id: event.eventId, user_id: event.userId, loka, net_karma: fold.netKarma, merit: fold.merit, role: fold.role },
      routing_info: { handler: event.type, ledger_entries: 1, q_update: false },
    };
  }

  private async stats(store: KarmaStore, event: Extract<ParsedKarmaEvent, { type: KarmaEventType.StatsRequest }>, now: number): Promise<Handled> {
    const entries = await this.requireUser(store, event.userId);
    const stats = buildUserStats(this.config, event.userId, entries, now, await store.qTable());
    return {
      message: `karma statistics of ${event.userId}`,
      data: { event_id: event.eventId, ...stats },
      routing_info: { handler: event.type, ledger_entries: 0, q_update: false },
    };
  }

  /** The profile as of now; 404 for a user with no ledger entry. */
  async profile(store: KarmaStore, userId: string, now: number, withStats: boolean): Promise<ReturnType<typeof buildUserStats> | ReturnType<typeof buildProfile>> {
    const entries = await this.requireUser(store, userId);
    const table = await store.qTable();
    return withStats ? buildUserStats(this.config, userId, entries, now, table) : buildProfile(this.config, userId, entries, now, table);
  }

  private async requireUser(store: KarmaStore, userId: string): Promise<LedgerEntry[]> {
    const entries = await store.userEntries(userId);
    if (entries.length === 0) throw userNotFound(userId);
    return entries;
  }

  private plainEntry(
    event: ParsedKarmaEvent,
    kind: 'appeal' | 'death',
    now: number,
    occurredAt: number,
    extra: { action?: string; details: Record<string, unknown> },
  ): NewLedgerEntry {
    return {
      eventId: event.eventId,
      userId: event.userId,
      kind,
      action: extra.action ?? null,
      token: null,
      amount: 0,
      paapClass: null,
      refSeq: null,
      details: extra.details,
      at: now,
      occurredAt,
    };
  }
}

/** The role of a user with no merit: what a user who never had a change published is taken to have. */
function initialRole(cfg: KarmaModelConfig): string {
  return roleFor(cfg, 0);
}

/** Whether writing `next` would change the stored row (a user without a row needs one only when there is something in it). */
function sameRow(row: PublishedRole | null, next: PublishedRole): boolean {
  if (!row) return next.role === null && next.nextTimeChangeAt === null && next.unpublishedEventSeq === null;
  return (
    row.role === next.role &&
    row.ledgerSeq === next.ledgerSeq &&
    row.at === next.at &&
    row.nextTimeChangeAt === next.nextTimeChangeAt &&
    row.unpublishedEventSeq === next.unpublishedEventSeq
  );
}

function assertUnreachable(value: never): never {
  throw new Error(`unhandled event ${JSON.stringify(value)}`);
}
