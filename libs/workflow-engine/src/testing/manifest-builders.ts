import {
  type ActionStep,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type Step,
  type WorkflowManifest,
} from '@pancha/workflow-manifest';

/** Normalised manifests by hand, for tests of the interpreter that should not depend on the YAML parser. */
export function manifest(steps: Step[], extra: Partial<WorkflowManifest> = {}): WorkflowManifest {
  return {
    name: 'test-flow',
    version: '1.0.0',
    enabled: true,
    deprecated: false,
    retired: false,
    retry: DEFAULT_RETRY_POLICY,
    security: { actions: ['task', 'email', 'whatsapp', 'ai', 'http', 'echo', 'flaky'], http_hosts: [], secrets: [] },
    triggers: [],
    steps,
    tests: [],
    migrations: {},
    content_hash: 'x'.repeat(64),
    ...extra,
  };
}

export function action(id: string, name: string, input: unknown = {}, extra: Partial<ActionStep> = {}): ActionStep {
  return { kind: 'action', id, action: name, with: input, retry: { ...DEFAULT_RETRY_POLICY }, source: { pointer: `/steps/${id}` }, ...extra };
}

export function retry(policy: Partial<RetryPolicy>): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...policy };
}
