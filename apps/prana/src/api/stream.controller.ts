import { type BeforeApplicationShutdown, Controller, Get, HttpStatus, Query, Req, Res } from '@nestjs/common';
import type { RunSummaryView } from '@pancha/contracts';
import { PolicyService } from '@pancha/governance';
import type { Request, Response } from 'express';
import { SignedInService } from '../auth/signed-in.service';
import { PranaConfig } from '../config/env.validation';
import { PranaException } from '../prana.exception';
import { RunWatch, type RunWatchEvent } from './run-watch.service';

const TOPIC = /^(runs|run:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const MAX_TOPICS = 16;

/** Parses `topics=runs,run:<uuid>,…` or refuses it with a 400 naming the parameter. */
export function parseTopics(raw: unknown): string[] {
  const list = typeof raw === 'string' ? raw.split(',').map((t) => t.trim()).filter(Boolean) : [];
  const bad = list.filter((t) => !TOPIC.test(t));
  if (list.length === 0 || bad.length || list.length > MAX_TOPICS) {
    throw new PranaException(
      HttpStatus.BAD_REQUEST,
      'bad_topics',
      `topics must be 1-${MAX_TOPICS} of: runs, run:<run_id>${bad.length ? ` (not ${bad.slice(0, 3).join(', ')})` : ''}`,
    );
  }
  return [...new Set(list)];
}

/**
 * `GET /api/stream?topics=runs,run:<id>`: server-sent events for the console. Session-authenticated like every
 * /api route (401 without a session, 403 without view:runs; a GET needs no CSRF token). Events:
 * `ready` once, `runs` with `{ topic, runs }` (summaries of the runs that changed: every run for `runs`, the run and
 * its sub-runs for `run:<id>`), `upstream` with `{ up }` when Core's change feed is lost or back, and a `: hb` comment
 * line as heartbeat. At most PRANA_STREAM_MAX_PER_SESSION streams per session; each ends after PRANA_STREAM_MAX_AGE_MS
 * (the browser reconnects, and with it the session is checked again).
 */
@Controller('api')
export class StreamController implements BeforeApplicationShutdown {
  private readonly perSession = new Map<string, number>();
  private readonly open = new Set<Response>();

  constructor(
    private readonly signedIn: SignedInService,
    private readonly watch: RunWatch,
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
    await this.signedIn.require(req, 'view:runs');
    const topics = parseTopics(rawTopics);
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
    const visible = (run: RunSummaryView) => products.includes('*') || (run.product !== null && products.includes(run.product));

    const unsubscribe = this.watch.subscribe((event: RunWatchEvent) => {
      if (event.type === 'upstream') return send('upstream', { up: event.up, message: event.message ?? null });
      const runs = event.runs.filter(visible);
      for (const topic of topics) {
        const id = topic === 'runs' ? null : topic.slice(4);
        const mine = id === null ? runs : runs.filter((r) => r.run_id === id || r.parent_run_id === id);
        if (mine.length) send('runs', { topic, runs: mine });
      }
    });
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
      unsubscribe();
      const left = (this.perSession.get(sid) ?? 1) - 1;
      if (left > 0) this.perSession.set(sid, left);
      else this.perSession.delete(sid);
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
    res.on('finish', cleanup);

    // retry: how long the browser waits before it reconnects after a drop.
    res.write('retry: 3000\n\n');
    send('ready', { topics, upstream: this.watch.upstreamUp ? 'up' : 'down' });
  }
}
