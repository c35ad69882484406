import type { RunSummaryView, RunView, WorkflowSummaryView } from '../types';

let n = 0;
export function runSummary(patch: Partial<RunSummaryView> = {}): RunSummaryView {
  n++;
  const id = `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
  return {
    run_id: id,
    workflow: 'onboard-learner',
    version: '1.0.0',
    status: 'completed',
    user_id: 'u-1',
    product: null,
    trace_id: 'a'.repeat(32),
    parent_run_id: null,
    created_at: '2026-11-28T10:00:00.000Z',
    started_at: '2026-11-28T10:00:00.100Z',
    completed_at: '2026-11-28T10:00:01.000Z',
    duration_ms: 900,
    error: null,
    ...patch,
  };
}

export function runView(patch: Partial<RunView> = {}): RunView {
  return {
    ...runSummary({ status: 'running', completed_at: null, duration_ms: null }),
    inputs: { user_id: 'u-1', email: 'a@example.com', mentor: 'm' },
    output: null,
    actor: 'user:operator-sub',
    root_run_id: '',
    relation: null,
    fallback_run_id: null,
    cancel_requested: false,
    deadline_at: null,
    pins: {},
    warnings: [],
    signals: [],
    children: [],
    steps: [
      { path: 'create_task', step_id: 'create_task', kind: 'action', status: 'completed', attempts: [{ attempt: 1, status: 'completed', idempotency_key: 'run:create_task', started_at: '2026-11-28T10:00:00.200Z', completed_at: '2026-11-28T10:00:00.400Z', duration_ms: 200, error: null }], input: { title: 'Welcome u-1' }, output: { task_id: 't1' }, error: null, handled: false, decision: null, child_run_id: null, fallback_run_id: null, wake_at: null, started_at: '2026-11-28T10:00:00.200Z', completed_at: '2026-11-28T10:00:00.400Z', duration_ms: 200 },
      { path: 'mentor_ok', step_id: 'mentor_ok', kind: 'approval', status: 'running', attempts: [], input: null, output: null, error: null, handled: false, decision: null, child_run_id: null, fallback_run_id: null, wake_at: null, started_at: '2026-11-28T10:00:00.500Z', completed_at: null, duration_ms: null },
    ],
    ...patch,
  };
}

export function workflowSummary(patch: Partial<WorkflowSummaryView> = {}): WorkflowSummaryView {
  return {
    name: 'onboard-learner',
    enabled: true,
    default_version: '1.0.0',
    description: 'Welcome a new learner',
    versions: [{ version: '1.0.0', content_hash: 'c'.repeat(64), file: 'onboard-learner.yaml', registered_at: '2026-11-28T09:00:00.000Z', present: true, deprecated: false, retired: false, description: null, live_runs: 2 }],
    setting: null,
    ...patch,
  };
}

export const ONBOARD_MANIFEST = {
  name: 'onboard-learner',
  version: '1.0.0',
  inputs: {
    type: 'object',
    required: ['user_id', 'email'],
    properties: {
      user_id: { type: 'string', minLength: 1 },
      email: { type: 'string', format: 'email' },
      attempts: { type: 'integer' },
      urgent: { type: 'boolean' },
      platforms: { type: 'array', items: { type: 'string' } },
    },
  },
  steps: [{ id: 'mentor_ok', approval: { signal: 'mentor_ok_signal', timeout: '7d' } }],
};
