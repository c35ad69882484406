import type { Finding } from './manifest.types';

/** A registered version's lifecycle flags, before and after a load changed them. */
export interface LifecycleChange {
  workflow: string;
  version: string;
  file?: string;
  deprecated: boolean;
  retired: boolean;
  was: { deprecated: boolean; retired: boolean };
}

/** What one (re)load of the workflows directory did, per file (the executor's `POST /api/workflows/reload`). */
export interface WorkflowLoadReport {
  loaded_at: string;
  registered: { workflow: string; version: string; file?: string }[];
  unchanged: number;
  refused: { file: string; findings: Finding[] }[];
  /** Refused files whose previously registered version keeps serving new runs (an invalid edit never replaces a valid one). */
  kept: { file: string; workflow: string; version: string }[];
  /**
   * Registered versions whose lifecycle flags (`deprecated`, `retired`) this load changed: the file is the registered
   * one but for them, so it is the same version with its state changed (not `version_immutable`).
   */
  lifecycle: LifecycleChange[];
  findings: Finding[];
  /** What triggered the load: `start`, `request` (POST …/reload) or `watch` (a file changed). */
  trigger?: 'start' | 'request' | 'watch';
}
