import { Injectable, Logger, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type EventSkipReason, RequesterId } from '@pancha/contracts';
import type { VerifiedRequester } from '@pancha/governance';
import { runInTraceContext, SpanKind } from '@pancha/trace-context';
import { DataSource, type EntityManager } from 'typeorm';
import { CoreConfig } from '../config/env.validation';
import { WorkflowCatalogService } from '../workflows/workflow-catalog.service';
import { WorkflowRunsService } from '../workflows/workflow-runs.service';
import { setDecision, startRefusal } from './event-router.service';

interface DeferredRow {
  id: string;
  event_id: string;
  workflow: string;
  /** The version whose trigger matched; NULL in rows stored before it was kept (they run the default version). */
  version: string | null;
  trigger: string;
  key: string;
  reason: EventSkipReason;
  inputs: Record<string, unknown>;
  user_id: string;
  product: string | null;
  trace_id: string;
  publisher: string;
}

const BATCH = 100;

/**
 * Makes the starts the router deferred (rate_limit `mode: delay`, debounce) once they are due. Every replica polls;
 * `FOR UPDATE SKIP LOCKED` hands each row to one of them, and the start, the row's removal and the event's decision
 * commit together, so a due start is made exactly once even across a crash.
 */
@Injectable()
export class DeferredStartsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DeferredStartsService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly catalog: WorkflowCatalogService,
    private readonly runs: WorkflowRunsService,
    private readonly config: CoreConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.EVENTS_DEFERRED_POLL_MS);
    this.timer.unref();
  }

  /** Stops polling and waits out a pass in flight, before the database closes (onApplicationShutdown) under it. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass (concurrent callers share it); the number of due starts handled. */
  tick(): Promise<number> {
    this.running ??= this.startDue()
      .catch((error: unknown) => {
        this.logger.warn({ msg: 'deferred starts not processed; retrying at the next poll', error: (error as Error).message });
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async startDue(): Promise<number> {
    if (!this.catalog.known) return 0;
    return this.dataSource.transaction(async (manager) => {
      const due: DeferredRow[] = await manager.query(
        `SELECT id, event_id, workflow, version, "trigger", key, reason, inputs, user_id, product, trace_id, publisher
         FROM event_deferred_starts WHERE due_at <= $1 ORDER BY due_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
        [new Date()],
      );
      for (const row of due) await this.start(manager, row);
      return due.length;
    });
  }

  /**
   * The version a deferred start asks for: the one whose trigger matched. When its file has since been replaced by a
   * later version of the same major (the version gone from the directory, not retired), the newest present version of
   * that major (`^<version>`): a patch or minor deploy must not drop the debounced and delayed starts waiting on the
   * version it replaced. Retired, or with no present version of its major (the file deleted), the exact version is
   * asked for, and refused.
   */
  private requestedVersion(workflow: string, version: string): string {
    const matched = this.catalog.get(workflow)?.versions.get(version);
    if (!matched || matched.present || matched.retired) return version;
    const sameMajor = `^${version}`;
    return this.catalog.choose(workflow, sameMajor).ok ? sameMajor : version;
  }

  private async start(manager: EntityManager, row: DeferredRow): Promise<void> {
    await runInTraceContext({ traceparent: `00-${row.trace_id}-${'0'.repeat(15)}1-01` }, 'event.deferred_start', SpanKind.INTERNAL, async () => {
      // The publisher's rights were checked when the event was accepted; the start is made on its behalf.
      const requester: VerifiedRequester = { id: row.publisher as RequesterId, products: ['*'] };
      try {
        const prepared = this.runs.prepare(
          {
            workflow: row.workflow,
            // The matched version (see requestedVersion): retired since, or its file deleted, a skip naming it
            // (startRefusal), unless a later major migrates its inputs (WORKFLOWS.md).
            ...(row.version ? { version: this.requestedVersion(row.workflow, row.version) } : {}),
            inputs: row.inputs,
            user_id: row.user_id,
            ...(row.product ? { product: row.product } : {}),
            actor: row.publisher,
            source: `event:${row.event_id}`,
            trace_id: row.trace_id,
            checkProduct: false,
          },
          requester,
        );
        await this.runs.commit(manager, prepared);
        await setDecision(manager, row.event_id, row.workflow, row.trigger, { outcome: 'run', run_id: prepared.start.run_id, version: prepared.start.version });
      } catch (error) {
        const refusal = startRefusal(error);
        await setDecision(manager, row.event_id, row.workflow, row.trigger, { outcome: 'skipped', reason: refusal.reason, detail: refusal.detail });
      }
      await manager.query(`DELETE FROM event_deferred_starts WHERE id = $1`, [row.id]);
    });
  }
}
