import { OUTBOX_ENTITIES, OUTBOX_MIGRATIONS } from '@pancha/outbox';
import { CapturedMessageEntity } from './capture-outbox/captured-message.entity';
import { ExecutionEntity } from './execution/execution.entity';
import { CreateExecutorTables1763800000000 } from './migrations/1763800000000-create-executor-tables';
import { ProductScopedReads1764345000000 } from './migrations/1764345000000-product-scoped-reads';
import { CreateWorkflowTables1764400000000 } from './migrations/1764400000000-create-workflow-tables';
import { RunsChangeFeed1764500000000 } from './migrations/1764500000000-runs-change-feed';
import { RunStartWarnings1764600000000 } from './migrations/1764600000000-run-start-warnings';
import { RunRetryGeneration1764700000000 } from './migrations/1764700000000-run-retry-generation';
import { TaskEntity } from './tasks/task.entity';

/** The executor database's schema, listed once for Nest (app.module.ts) and the TypeORM CLI (data-source.ts). */
export const EXECUTOR_ENTITIES = [ExecutionEntity, TaskEntity, CapturedMessageEntity, ...OUTBOX_ENTITIES];
export const EXECUTOR_MIGRATIONS = [
  ...OUTBOX_MIGRATIONS,
  CreateExecutorTables1763800000000,
  ProductScopedReads1764345000000,
  CreateWorkflowTables1764400000000,
  RunsChangeFeed1764500000000,
  RunStartWarnings1764600000000,
  RunRetryGeneration1764700000000,
];
