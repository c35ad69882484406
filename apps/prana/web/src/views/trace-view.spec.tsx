import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { BucketEntry } from '../types';
import { FakeBff } from '../testing/fake-bff';
import { runView } from '../testing/fixtures';
import { renderApp } from '../testing/render';

const TRACE = 'a'.repeat(32);

function entry(seq: number, event_type: string, created_at: string): BucketEntry {
  return { seq, event_id: `e${seq}`, requester_id: 'core', channel: 'core', event_type, trace_id: TRACE, product: null, user_id: 'u-1', event_data: { n: seq }, content_hash: 'h', prev_hash: 'p', hash: 'h', created_at } as unknown as BucketEntry;
}

function serve(bff: FakeBff) {
  const run = runView({ trace_id: TRACE, started_at: '2026-11-28T10:00:00.100Z', completed_at: '2026-11-28T10:00:01.000Z', status: 'completed', duration_ms: 900 });
  bff.on('GET', '/api/bucket/core/events', () => ({ events: [entry(1, 'task.created', '2026-11-28T10:00:00.000Z'), entry(2, 'workflow.run.completed', '2026-11-28T10:00:01.100Z')], next_after_seq: null }));
  bff.on('GET', '/api/core/runs', () => ({ runs: [run], next_cursor: null }));
  bff.on('GET', `/api/core/runs/${run.run_id}`, () => run);
  return run;
}

describe('Trace page', () => {
  it('merges the trace’s audit entries and its runs’ and steps’ start and end into one list ordered by time', async () => {
    const bff = new FakeBff('viewer');
    const run = serve(bff);
    renderApp(bff, `/traces/${TRACE}`);
    const list = await screen.findByRole('list', { name: 'Trace timeline' });
    const rows = within(list).getAllByRole('listitem').map((li) => `${li.getAttribute('data-source')}:${li.textContent?.replace(/^.*?(audit|run|step)/, '').replace(/\s+/g, ' ').trim()}`);
    expect(rows.map((r) => r.split(':')[0])).toEqual(['audit', 'run', 'step', 'step', 'step', 'run', 'audit']);
    expect(rows[0]).toContain('task.created');
    expect(rows[2]).toContain('create_task started');
    expect(rows[3]).toContain('create_task completed after 200 ms');
    expect(rows[4]).toContain('mentor_ok started');
    expect(rows[5]).toContain('completed after 900 ms');
    expect(rows[6]).toContain('workflow.run.completed');
    const runs = bff.requests.find((r) => r.path === '/api/core/runs');
    expect(runs?.query.get('trace_id')).toBe(TRACE);
    expect(runs?.query.get('include_children')).toBe('true');
    expect(bff.requests.find((r) => r.path === '/api/bucket/core/events')?.query.get('trace_id')).toBe(TRACE);
    expect(within(list).getAllByRole('link', { name: /onboard-learner/ })[0].getAttribute('href')).toBe(`/runs/${run.run_id}`);
    expect(screen.getByRole('link', { name: /in Jaeger/ }).getAttribute('href')).toBe(`http://jaeger.test:16686/trace/${TRACE}`);
  });

  it('still shows the audit entries when the runs cannot be read, and says so', async () => {
    const bff = new FakeBff('viewer');
    serve(bff);
    bff.on('GET', '/api/core/runs', () => ({ status: 502, body: { error: 'service_unavailable', message: 'core cannot be reached', service: 'core' } }));
    renderApp(bff, `/traces/${TRACE}`);
    const list = await screen.findByRole('list', { name: 'Trace timeline' });
    expect(within(list).getAllByRole('listitem').map((li) => li.getAttribute('data-source'))).toEqual(['audit', 'audit']);
    expect(screen.getByText(/the runs of this trace/).closest('[role=alert]')?.textContent).toContain('core cannot be reached');
  });

  it('is where a trace link goes (from a run page)', async () => {
    const bff = new FakeBff('viewer');
    const run = serve(bff);
    bff.on('GET', '/api/core/workflows/onboard-learner/versions/1.0.0', () => ({}));
    renderApp(bff, `/runs/${run.run_id}`);
    fireEvent.click(await screen.findByRole('link', { name: `${TRACE.slice(0, 12)}…` }));
    await screen.findByRole('list', { name: 'Trace timeline' });
    expect(window.location.pathname).toBe(`/traces/${TRACE}`);
  });

  it('an id that is not a W3C trace id reads Bucket only (the runs API would refuse it)', async () => {
    const bff = new FakeBff('viewer');
    serve(bff);
    renderApp(bff, '/traces/legacy-trace-1');
    await screen.findByRole('list', { name: 'Trace timeline' });
    await waitFor(() => expect(bff.requests.some((r) => r.path === '/api/bucket/core/events')).toBe(true));
    expect(bff.requests.some((r) => r.path === '/api/core/runs')).toBe(false);
  });
});
