import { Type } from 'class-transformer';
import { FIELD_LIMITS } from '../common/field-limits';
import {
  IsEnum,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  ValidateBy,
  ValidateNested,
  type ValidationArguments,
  type ValidationOptions,
} from 'class-validator';
import { Decision } from './workflow-executor.enums';

/**
 * The action to perform. Open on purpose: each adapter reads its own fields (title, recipient, prompt, …),
 * and a missing or unknown action_type is an execution failure (200, status "failed"), not a schema error.
 */
export interface WorkflowPayload {
  action_type?: string;
  user_id?: string;
  product?: string;
  trace_id?: string;
  [field: string]: unknown;
}

export interface WorkflowData {
  workflow_type?: 'workflow';
  payload?: WorkflowPayload;
}

/** Body of POST /api/workflow/execute. */
export interface ExecuteWorkflowRequest {
  trace_id: string;
  decision: Decision | `${Decision}`;
  data?: WorkflowData;
}

const PAYLOAD_STRING_FIELDS = ['action_type', 'user_id', 'product', 'trace_id'] as const;
export const MAX_TRACE_ID_LENGTH = FIELD_LIMITS.traceId;

/**
 * The payload fields that reach Bucket and Karma in the execution's events, with their limits there. A longer
 * one is refused here (422, nothing executed, nothing stored): accepted, it would make the events undeliverable.
 */
const PAYLOAD_FIELD_LIMITS = [
  ['action_type', FIELD_LIMITS.actionType],
  ['user_id', FIELD_LIMITS.userId],
  ['product', FIELD_LIMITS.product],
  ['trace_id', FIELD_LIMITS.traceId],
] as const;

function payloadProblems(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) return ['payload must be an object'];
  const payload = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const field of PAYLOAD_STRING_FIELDS) {
    const v = payload[field];
    if (v !== undefined && v !== null && typeof v !== 'string') problems.push(`payload.${field} must be a string`);
  }
  for (const [field, max] of PAYLOAD_FIELD_LIMITS) {
    const v = payload[field];
    if (typeof v === 'string' && v.length > max) problems.push(`payload.${field} must be at most ${max} characters`);
  }
  return problems;
}

/**
 * Checks only the payload's well-known fields. Nested class validation is not used because the global
 * whitelist would strip every adapter field it does not know about.
 */
export function IsWorkflowPayload(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWorkflowPayload',
      validator: {
        validate: (value: unknown) => payloadProblems(value).length === 0,
        defaultMessage: (args?: ValidationArguments) => payloadProblems(args?.value).join('; '),
      },
    },
    options,
  );
}

export class WorkflowDataDto implements WorkflowData {
  @IsOptional()
  @IsIn(['workflow'])
  workflow_type?: 'workflow';

  @IsOptional()
  @IsWorkflowPayload()
  payload?: WorkflowPayload;
}

export class ExecuteWorkflowRequestDto implements ExecuteWorkflowRequest {
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_TRACE_ID_LENGTH)
  trace_id: string;

  @IsEnum(Decision, { message: `decision must be one of: ${Object.values(Decision).join(', ')}` })
  decision: Decision;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => WorkflowDataDto)
  data?: WorkflowDataDto;
}
