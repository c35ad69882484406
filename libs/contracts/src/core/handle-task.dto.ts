import { ArrayMaxSize, IsArray, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { ID_LIMITS } from '../common/api-error';
import type { Decision } from '../workflow-executor';
import type { TaskStatus } from './task-status';

export const MAX_TASK_INPUT_LENGTH = 10_000;

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

  @IsString() @IsNotEmpty() @MaxLength(MAX_TASK_INPUT_LENGTH)
  input: string;

  @IsOptional() @IsString() @MaxLength(64)
  input_type?: string;

  /** Karma and Bucket take ids up to ID_LIMITS: a longer one accepted here could never be recorded there. */
  @IsString() @IsNotEmpty() @MaxLength(ID_LIMITS.userId)
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
