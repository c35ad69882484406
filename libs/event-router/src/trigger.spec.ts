import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { applyFilters, EMPTY_STATE } from './filters';
import { boundedKey, type CompiledTrigger, compileTrigger, MAX_KEY_CHARS, prefilter, type RoutedEvent, typeMatches } from './trigger';

const shipped = (name: string): WorkflowManifest =>
  parseManifest(readFileSync(path.resolve(__dirname, `../../../workflows/${name}.yaml`), 'utf8')).manifest as WorkflowManifest;
const triggersOf = (m: WorkflowManifest, enabled = true): CompiledTrigger[] => m.triggers.map((t) => compileTrigger(m.name, m.version, enabled, t));
const event = (type: string, data: unknown, extra: Partial<RoutedEvent> = {}): RoutedEvent => ({ id: 'e1', type, time: '2026-01-01T00:00:00Z', data, ...extra });

describe('typeMatches', () => {
  it('matches exact types, dotted prefixes and *', () => {
    expect(typeMatches('kpi.*', 'kpi.metric_updated')).toBe(true);
    expect(typeMatches('kpi.*', 'kpis.x')).toBe(false);
    expect(typeMatches('kpi.metric_updated', 'kpi.metric_updated')).toBe(true);
    expect(typeMatches('kpi.metric_updated', 'kpi.metric')).toBe(false);
    expect(typeMatches('*', 'anything')).toBe(true);
  });
});

describe('the TriggerMesh routes of the shipped workflows', () => {
  const escalation = triggersOf(shipped('incident-escalation'));
  const learning = triggersOf(shipped('learning-path'));
  const route = (triggers: CompiledTrigger[], e: RoutedEvent) => triggers.filter((t) => typeMatches(t.event, e.type)).map((t) => ({ name: t.name, pre: prefilter(t, e) }));

  it('CRITICAL healing_required passes the escalation trigger, keyed by component, with the run inputs', () => {
    const [critical] = route(escalation, event('test_quality.healing_required', { component: 'checkout', severity: 'CRITICAL' }));
    expect(critical.pre).toEqual({
      ok: true,
      key: 'checkout',
      values: {},
      inputs: { component: 'checkout', severity: 'CRITICAL', handler_url: 'http://healing.pancha.local/heal', settle: '2m' },
    });
    const [learn] = route(learning, event('test_quality.healing_required', { component: 'checkout', severity: 'CRITICAL' }));
    expect(learn.pre).toMatchObject({ ok: false, reason: 'condition_false' });
  });

  it('WARNING passes the learning trigger and not the escalation one', () => {
    const [learn] = route(learning, event('test_quality.healing_required', { component: 'billing', severity: 'WARNING', detail: 'flaky' }));
    expect(learn.pre).toMatchObject({ ok: true, key: 'billing', inputs: { component: 'billing', detail: 'flaky' } });
    expect(route(escalation, event('test_quality.healing_required', { component: 'billing', severity: 'WARNING' }))[0].pre).toMatchObject({ reason: 'condition_false' });
  });

  it('the trust trigger reads its filter fields from the event; a non-number field is invalid, not an error', () => {
    const [trust] = route(learning, event('trust.score_updated', { subject_id: 'u1', score: 0.4 }));
    expect(trust.pre).toMatchObject({ ok: true, key: 'u1', values: { threshold: 0.4, delta: 0.4 }, inputs: { component: 'trust:u1' } });
    const [bad] = route(learning, event('trust.score_updated', { subject_id: 'u1', score: 'low' }));
    expect(bad.pre).toMatchObject({ ok: false, reason: 'invalid', detail: expect.stringContaining('threshold.field') });
  });

  it('an if that gives no bool is the event\'s invalid skip naming it, never condition_false', () => {
    const m = parseManifest(`
name: counted
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: on-count
    event: counter.ticked
    if: event.data.count
steps:
  - id: only
    action: task
    with: { title: "t" }
`).manifest as WorkflowManifest;
    const [t] = triggersOf(m);
    expect(prefilter(t, event('counter.ticked', { count: 3 }))).toMatchObject({ ok: false, reason: 'invalid', detail: expect.stringContaining('must be a bool, got int') });
    expect(prefilter(t, event('counter.ticked', { count: 'true' }))).toMatchObject({ ok: false, reason: 'invalid', detail: expect.stringContaining('got string') });
    expect(prefilter(t, event('counter.ticked', { count: false }))).toMatchObject({ ok: false, reason: 'condition_false' });
    expect(prefilter(t, event('counter.ticked', { count: true }))).toMatchObject({ ok: true });
  });

  it('a disabled workflow records workflow_disabled before anything is evaluated', () => {
    const [t] = triggersOf(shipped('learning-path'), false);
    expect(prefilter(t, event('test_quality.healing_required', {}))).toMatchObject({ ok: false, reason: 'workflow_disabled' });
  });

  it('the repeat of a CRITICAL within the dedup window is a duplicate', () => {
    const t = escalation.find((x) => x.name === 'critical-test-quality')!;
    const first = applyFilters(t.filters, {}, EMPTY_STATE, 0);
    expect(first.result.outcome).toBe('run');
    expect(applyFilters(t.filters, {}, first.state, 9 * 60_000).result).toMatchObject({ outcome: 'skipped', reason: 'duplicate' });
    expect(applyFilters(t.filters, {}, first.state, 10 * 60_000).result.outcome).toBe('run');
  });
});

describe('boundedKey', () => {
  it('keeps a key of up to 200 characters and stands a longer one in by its sha256, the same for the same key', () => {
    expect(boundedKey('k'.repeat(MAX_KEY_CHARS))).toBe('k'.repeat(MAX_KEY_CHARS));
    const long = boundedKey('k'.repeat(MAX_KEY_CHARS + 1));
    expect(long).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(boundedKey('k'.repeat(MAX_KEY_CHARS + 1))).toBe(long);
    expect(boundedKey('j'.repeat(MAX_KEY_CHARS + 1))).not.toBe(long);
  });

  it('is what prefilter keys an event by', () => {
    const [trigger] = triggersOf(shipped('incident-escalation'));
    const component = 'x'.repeat(5_000);
    const pre = prefilter(trigger, event(trigger.event, { component, severity: 'CRITICAL' }));
    expect(pre).toMatchObject({ key: boundedKey(component) });
  });
});
