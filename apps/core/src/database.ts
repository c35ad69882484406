import { OUTBOX_ENTITIES, OUTBOX_MIGRATIONS } from '@pancha/outbox';
import { CreateTasks1763800000000 } from './migrations/1763800000000-create-tasks';
import { CreateAuditCheckpoints1764200000000 } from './migrations/1764200000000-create-audit-checkpoints';
import { TaskIdempotencyKeys1764345100000 } from './migrations/1764345100000-task-idempotency-keys';
import { CreateWorkflowRuns1764400000000 } from './migrations/1764400000000-create-workflow-runs';
import { CreateEvents1764500000000 } from './migrations/1764500000000-create-events';
import { RunRequestCancelled1765600000000 } from './migrations/1765600000000-run-request-cancelled';
import { DeferredStartVersion1765700000000 } from './migrations/1765700000000-deferred-start-version';
import { EventChainDepth1765800000000 } from './migrations/1765800000000-event-chain-depth';
import { RunRequestEndedIndex1765810000000 } from './migrations/1765810000000-run-request-ended-index';
import { RunRequestMaybeSent1765820000000 } from './migrations/1765820000000-run-request-maybe-sent';
import { RunIdempotencyKeys1765830000000 } from './migrations/1765830000000-run-idempotency-keys';
import { RunRequestWarnings1765840000000 } from './migrations/1765840000000-run-request-warnings';
import { EventFilterStateProduct1765850000000 } from './migrations/1765850000000-event-filter-state-product';
import { TaskIdempotencyKeyEntity } from './tasks/task-idempotency-key.entity';
import { TaskEntity } from './tasks/task.entity';

/** Core's schema, listed once: used by AppModule (Nest) and data-source.ts (TypeORM CLI). */
export const CORE_ENTITIES = [TaskEntity, TaskIdempotencyKeyEntity, ...OUTBOX_ENTITIES];
export const CORE_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  CreateTasks1763800000000,
  CreateAuditCheckpoints1764200000000,
  TaskIdempotencyKeys1764345100000,
  CreateWorkflowRuns1764400000000,
  CreateEvents1764500000000,
  RunRequestCancelled1765600000000,
  DeferredStartVersion1765700000000,
  EventChainDepth1765800000000,
  RunRequestEndedIndex1765810000000,
  RunRequestMaybeSent1765820000000,
  RunIdempotencyKeys1765830000000,
  RunRequestWarnings1765840000000,
  EventFilterStateProduct1765850000000,
];
