import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';

/** One registered version as the catalog describes it. */
export interface WorkflowVersionView {
  version: string;
  content_hash: string;
  registered_at: string;
  /** In the workflows directory now: only present versions start new runs by default. */
  present: boolean;
  deprecated: boolean;
  retired: boolean;
  description: string | null;
  file: string | null;
  /** Runs of this version not yet ended (pending or running): what a drain waits for. */
  live_runs: number;
}

export interface WorkflowSummaryView {
  name: string;
  enabled: boolean;
  /** The version a run started without `version` gets; null when no version is present in the directory. */
  default_version: string | null;
  description: string | null;
  versions: WorkflowVersionView[];
  setting: { enabled: boolean; updated_by: string; updated_at: string; reason: string | null } | null;
}

export interface WorkflowListResponse {
  workflows: WorkflowSummaryView[];
  revision: string;
}

/**
 * What Core mirrors from the executor's registry (GET /api/workflows/catalog, ETag = revision): enough to accept
 * or refuse a run start (enabled, versions, inputs schema) and to route events (triggers) without asking.
 */
export interface WorkflowCatalog {
  revision: string;
  workflows: {
    name: string;
    enabled: boolean;
    /**
     * The operator's reason for the current setting (a disable's "supplier outage"), when the executor says it: Core's
     * 409 `workflow_disabled` then carries it, as the executor's own refusal does. Absent from an executor that does not.
     */
    reason?: string | null;
    default_version: string | null;
    versions: {
      version: string;
      present: boolean;
      deprecated: boolean;
      retired: boolean;
      /** The normalised manifest (@pancha/workflow-manifest WorkflowManifest). */
      manifest: Record<string, unknown>;
    }[];
  }[];
}

export class SetWorkflowEnabledDto {
  /** Why (recorded in Bucket with the change). */
  @IsOptional() @IsString() @MaxLength(500)
  reason?: string;
}

/**
 * What Core sends the executor to enable or disable a workflow for someone: the change and who asked
 * (ExecutorStartRunDto carries `actor` the same way). The executor takes `actor` only from Core.
 */
export class ExecutorSetWorkflowEnabledDto extends SetWorkflowEnabledDto {
  /** Who asked Core: a requester id, or `user:<username>` for a signed-in person (governance actorOf). */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(160)
  actor?: string;
}

/**
 * The Bucket entries (event_type) the executor writes when a workflow's definition or setting changes: a version
 * registered, the workflow enabled or disabled, a version's lifecycle flag turned on or off. PRANA's live view
 * refreshes a workflow's page on any of them.
 */
export const WORKFLOW_DEFINITION_EVENT_TYPES = [
  'workflow.registered',
  'workflow.enabled',
  'workflow.disabled',
  'workflow.deprecated',
  'workflow.undeprecated',
  'workflow.retired',
  'workflow.unretired',
] as const;
export type WorkflowDefinitionEventType = (typeof WORKFLOW_DEFINITION_EVENT_TYPES)[number];
