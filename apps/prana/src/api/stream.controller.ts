import { type BeforeApplicationShutdown, Controller, Get, HttpStatus, Query, Req, Res } from '@nestjs/common';
import type { BucketEntry } from '@pancha/contracts';
import { WORKFLOW_DEFINITION_EVENT_TYPES } from '@pancha/contracts';
import { PolicyService } from '@pancha/governance';
import type { Request, Response } from 'express';
import { SignedInService } from '../auth/signed-in.service';
import { PranaConfig } from '../config/env.validation';
import type { Permission } from '../auth/permissions';
import { PranaException } from '../prana.exception';
import { karmaReadRefusal } from './karma-scope';
import { FeedWatch, type FeedEvent } from './feed-watch.service';
import { RunWatch, type RunWatchEvent } from './run-watch.service';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A value inside a topic: anything but a comma or white space, up to 200 characters. */
const VALUE = '[^,\\s]{1,200}';
const TOPIC = new RegExp(`^(runs|run:${UUID}|workflows|audit|audit:(trace|user|product):${VALUE}|karma:${VALUE})$`);
const MAX_TOPICS = 16;
/** Longest a stream waits for its watches' positions before it says `ready` anyway. */
const READY_WAIT_MS = 5_000;
/** Bucket entries that change a workflow definition's state (the executor records them). */
const WORKFLOW_DEFINITION_EVENTS = new Set<string>(WORKFLOW_DEFINITION_EVENT_TYPES);

/** Parses `topics=runs,run:<uuid>,…` or refuses it with a 400 naming the parameter. */
export function parseTopics(raw: unknown): string[] {
  const list = typeof raw === 'string' ? raw.split(',').map((t) => t.trim()).filter(Boolean) : [];
  const bad = list.filter((t) => !TOPIC.test(t));
  if (list.length === 0 || bad.length || list.length > MAX_TOPICS) {
    throw new PranaException(
      HttpStatus.BAD_REQUEST,
      'bad_topics',
      `topics must be 1-${MAX_TOPICS} of: runs, run:<run_id>, workflows, audit, audit:trace:<id>, audit:user:<id>, audit:product:<name>, karma:<user>${bad.length ? ` (not ${bad.slice(0, 3).join(', ')})` : ''}`,
    );
  }
  return [...new Set(list)];
}

/** The permission a topic needs: each view's own. */
export function topicPermission(topic: string): Permission {
  if (topic === 'runs' || topic.startsWith('run:')) return 'view:runs';
  if (topic === 'workflows') return 'view:workflows';
  if (topic.startsWith('karma:')) return 'view:karma';
  return 'view:audit';
}

/** Does an audit topic (`audit`, `audit:trace:<id>`, `audit:user:<id>`, `audit:product:<p>`) take this entry? */
export function auditTopicTakes(topic: string, entry: BucketEntry): boolean {
  if (topic === 'audit') return true;
  const [, field, ...rest] = topic.split(':');
  const value = rest.join(':');
  if (field === 'trace') return entry.trace_id === value;
  if (field === 'user') return entry.user_id === value;
  if (field === 'product') return entry.product === value;
  return false;
}

/**
 * `GET /api/stream?topics=…`: server-sent events for the console. Session-authenticated like every /api route (401
 * without a session, 403 without the permission of one of the topics: view:runs for `runs`/`run:<id>`,
 * view:workflows for `workflows`, view:audit for `audit…`, view:karma for `karma:<user>`; a GET needs no CSRF token).
 * Events: `ready` once; `runs` with `{ topic, runs }` (summaries of the runs that changed: every run for `runs`, the
 * run and its sub-runs for `run:<id>`); `audit` with `{ topic, entries }` (new Bucket entries: all of them for
 * `audit`, those of one trace, user or product for `audit:trace|user|product:<value>`); `workflows` with
 * `{ topic, workflows }` (names of workflows whose runs or definition state changed); `karma` with `{ topic,
 * user_id, marker }` (Karma recorded something for the user); `upstream` with `{ service, up }` when a service's
 * feed is lost or back; and a `: hb` comment line as heartbeat. At most PRANA_STREAM_MAX_PER_SESSION streams per
 * session; each ends after PRANA_STREAM_MAX_AGE_MS (the browser reconnects, and with it the session is checked again).
 */
@Controller('api')
export class StreamController implements BeforeApplicationShutdown {
  private readonly perSession = new Map<string, number>();
  private readonly open = new Set<Response>();

  constructor(
    private readonly signedIn: SignedInService,
    private readonly watch: RunWatch,
    private readonly feeds: FeedWatch,
    private readonly config: PranaConfig,
    private readonly policy: PolicyService,
  ) {}

  /** Open streams (tests and diagnostics). */
  get openStreams(): number {
    let n = 0;
    for (const v of this.perSession.values()) n += v;
    return n;
  }

  /** Ends every stream, so that the server can close (browsers reconnect to another replica or after the restart). */
  beforeApplicationShutdown(): void {
    for (const res of this.open) res.end();
  }

  @Get('stream')
  async stream(@Req() req: Request, @Res() res: Response, @Query('topics') rawTopics: unknown): Promise<void> {
    const { user } = await this.signedIn.require(req);
    const topics = parseTopics(rawTopics);
    for (const permission of new Set(topics.map(topicPermission))) await this.signedIn.require(req, permission);
    // What GET /api/karma would refuse (people restricted to products read their own karma only), the stream refuses.
    for (const topic of topics.filter((t) => t.startsWith('karma:'))) {
      const refused = karmaReadRefusal(this.policy.peopleProducts(), user.username, topic.slice('karma:'.length));
      if (refused) throw refused;
    }
    const sid = req.sessionID;
    const open = this.perSession.get(sid) ?? 0;
    if (open >= this.config.PRANA_STREAM_MAX_PER_SESSION) {
      throw new PranaException(HttpStatus.TOO_MANY_REQUESTS, 'too_many_streams', `this session already has ${open} live streams open; close a tab`);
    }
    this.perSession.set(sid, open + 1);

    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('connection', 'keep-alive');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);

    const send = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const products = this.policy.peopleProducts();
    const visible = (item: { product: string | null }) => products.includes('*') || (item.product !== null && products.includes(item.product));
    const runTopics = topics.filter((t) => t === 'runs' || t.startsWith('run:'));
    const auditTopics = topics.filter((t) => t.startsWith('audit'));
    const wantsWorkflows = topics.includes('workflows');
    const karmaUsers = topics.filter((t) => t.startsWith('karma:')).map((t) => t.slice('karma:'.length));
    const sendWorkflows = (names: string[]) => {
      const unique = [...new Set(names)];
      if (unique.length) send('workflows', { topic: 'workflows', workflows: unique });
    };
    const unsubscribers: Array<() => void> = [];
    const watched: string[] = [];

    if (runTopics.length || wantsWorkflows) {
      watched.push('core');
      unsubscribers.push(
        this.watch.subscribe((event: RunWatchEvent) => {
          if (event.type === 'upstream') return send('upstream', { service: 'core', up: event.up, message: event.message ?? null });
          const runs = event.runs.filter(visible);
          for (const topic of runTopics) {
            const id = topic === 'runs' ? null : topic.slice(4);
            const mine = id === null ? runs : runs.filter((r) => r.run_id === id || r.parent_run_id === id);
            if (mine.length) send('runs', { topic, runs: mine });
          }
          if (wantsWorkflows) sendWorkflows(runs.map((r) => r.workflow));
        }),
      );
    }
    const onFeed = (event: FeedEvent) => {
      if (event.type === 'upstream') return send('upstream', { service: event.service, up: event.up, message: event.message ?? null });
      if (event.type === 'karma') return send('karma', { topic: `karma:${event.user_id}`, user_id: event.user_id, marker: event.marker });
      const entries = event.entries.filter(visible);
      for (const topic of auditTopics) {
        const mine = entries.filter((e) => auditTopicTakes(topic, e));
        if (mine.length) send('audit', { topic, entries: mine });
      }
      if (wantsWorkflows) {
        sendWorkflows(
          entries
            .filter((e) => WORKFLOW_DEFINITION_EVENTS.has(e.event_type))
            .map((e) => (e.event_data as { workflow?: unknown }).workflow)
            .filter((w): w is string => typeof w === 'string'),
        );
      }
    };
    if (auditTopics.length || wantsWorkflows) {
      watched.push('audit');
      unsubscribers.push(this.feeds.subscribeAudit(onFeed));
    }
    for (const user of karmaUsers) {
      watched.push(`karma:${user}`);
      unsubscribers.push(this.feeds.subscribeKarma(user, onFeed));
    }
    const heartbeat = setInterval(() => !res.writableEnded && res.write(': hb\n\n'), this.config.PRANA_STREAM_HEARTBEAT_MS);
    const maxAge = setTimeout(() => res.end(), this.config.PRANA_STREAM_MAX_AGE_MS);
    let closed = false;
    this.open.add(res);
    const cleanup = () => {
      if (closed) return;
      closed = true;
      this.open.delete(res);
      clearInterval(heartbeat);
      clearTimeout(maxAge);
      for (const unsubscribe of unsubscribers) unsubscribe();
      const left = (this.perSession.get(sid) ?? 1) - 1;
      if (left > 0) this.perSession.set(sid, left);
      else this.perSession.delete(sid);
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
    res.on('finish', cleanup);

    // retry: how long the browser waits before it reconnects after a drop.
    res.write('retry: 3000\n\n');
    // `ready` only once every watch behind the topics has its position (bounded, should a service hang): the view
    // reloads on `ready`, so a change between its first load and the first push is never lost.
    const positioned = watched.map((w) => (w === 'core' ? this.watch.whenPositioned() : this.feeds.whenPositioned(w)));
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(positioned), new Promise<void>((resolve) => (waited = setTimeout(resolve, READY_WAIT_MS)))]);
    clearTimeout(waited);
    if (closed) return;
    // Named by service, as the `upstream` events are (core, bucket, karma).
    const serviceOf = (w: string) => (w === 'core' ? 'core' : w === 'audit' ? 'bucket' : 'karma');
    const down = [...new Set(watched.filter((w) => (w === 'core' ? !this.watch.upstreamUp : !this.feeds.upstreamUp(w))).map(serviceOf))];
    send('ready', { topics, upstream: down.length ? 'down' : 'up', down });
  }
}
