/**
 * Wire shapes the console reads, named once in libs/contracts. Type-only: `export type` is erased by Vite
 * (esbuild) and by the tests' SWC, so the browser bundle never loads contracts (nor class-validator, which its
 * DTO classes use); tsc resolves `@pancha/contracts` through tsconfig.base.json's paths.
 */
export type {
  AuditVerifyResult,
  BucketEntry,
  CoreTaskView,
  EventsPage,
  HandleTaskAccepted,
  KarmaProfile,
  RunErrorView,
  RunListResponse,
  RunStepView,
  RunSummaryView,
  RunView,
  StepAttemptView,
  WorkflowListResponse,
  WorkflowStatsBucket,
  WorkflowStatsPoint,
  WorkflowStatsResponse,
  WorkflowSummaryView,
  WorkflowVersionView,
  WitnessedVerifyResult,
} from '@pancha/contracts';
