import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsNotEmpty, IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { ID_LIMITS } from '../common/api-error';
import { IsNotBlank } from '../common/not-blank';
import type { Decision } from '../workflow-executor';
import type { TaskStatus } from './task-status';

export const MAX_TASK_INPUT_LENGTH = 10_000;
/** Tasks one `POST /handle_tasks` request may carry. */
export const MAX_TASK_BATCH = 100;

/** `POST /handle_task` body (SPEC §2). */
export interface HandleTaskRequest {
  /** The calling agent's name, kept with the task; the deciding agent is chosen by Core's configuration. */
  agent?: string;
  input: string;
  input_type?: string;
  user_id: string;
  product?: string;
  tags?: string[];
}

export class HandleTaskRequestDto implements HandleTaskRequest {
  @IsOptional() @IsString() @MaxLength(255)
  agent?: string;

  @IsString() @IsNotEmpty() @IsNotBlank() @MaxLength(MAX_TASK_INPUT_LENGTH)
  input: string;

  @IsOptional() @IsString() @MaxLength(64)
  input_type?: string;

  /** Karma and Bucket take ids up to ID_LIMITS: a longer one accepted here could never be recorded there. */
  @IsString() @IsNotEmpty() @IsNotBlank() @MaxLength(ID_LIMITS.userId)
  user_id: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(ID_LIMITS.product)
  product?: string;

  @IsOptional() @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @MaxLength(100, { each: true })
  tags?: string[];
}

/** `POST /handle_task` → 202: the task is stored and its workflow (if any) queued; nothing waited on. */
export interface HandleTaskAccepted {
  task_id: string;
  /** W3C trace id of the request: paste it into Jaeger, or query Bucket with it. */
  trace_id: string;
  decision: Decision;
  status: TaskStatus;
  /** When the decision started a versioned workflow run. */
  run_id?: string;
  workflow?: string;
}

/**
 * `POST /handle_tasks` body: 1..MAX_TASK_BATCH tasks, each as `POST /handle_task` takes it, accepted together or not at
 * all (one bad task is a 422 naming it, e.g. `tasks.3.user_id`, and nothing is stored). The body as a whole is held to
 * MAX_BODY_BYTES like any (413): a hundred tasks fit when their inputs average under about 2,500 bytes.
 */
export class HandleTasksRequestDto {
  // IsObject each: ValidateNested walks into a nested array ([[]]) and finds nothing wrong with it.
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(MAX_TASK_BATCH)
  @IsObject({ each: true, message: 'each task must be an object' })
  @ValidateNested({ each: true }) @Type(() => HandleTaskRequestDto)
  tasks: HandleTaskRequestDto[];
}

/** `POST /handle_tasks` → 202: every task stored, in request order, each with a trace of its own. */
export interface HandleTasksAccepted {
  tasks: HandleTaskAccepted[];
}
