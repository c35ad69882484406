// The audit, karma and workflows views update live from the BFF's stream (no reload, no timed poll while live).
import { act, screen, waitFor } from '@testing-library/react';
import { FakeBff, withStreams } from '../testing/fake-bff';
import { runSummary, workflowSummary } from '../testing/fixtures';
import { renderApp } from '../testing/render';
import type { BucketEntry } from '../types';

const h = (c: string) => c.repeat(64);
function entry(seq: number, patch: Partial<BucketEntry> = {}): BucketEntry {
  return {
    seq, event_id: `e${seq}`, requester_id: 'core', channel: 'core', event_type: 'task_received', trace_id: 'd'.repeat(32), product: null, user_id: 'asha',
    event_data: { event_id: `e${seq}`, event_type: 'task_received' }, content_hash: h('c'), prev_hash: h(String(seq - 1)), hash: h(String(seq)), created_at: '2026-11-28T10:00:00.000Z', ...patch,
  };
}
const gets = (bff: FakeBff, path: string) => bff.requests.filter((r) => r.method === 'GET' && r.path === path).length;

describe('live views', () => {
  afterEach(() => jest.useRealTimers());

  it('audit: a new entry for the filtered user arrives on the last page without a reload; another user’s does not reload it', async () => {
    jest.useFakeTimers();
    const bff = withStreams(new FakeBff('viewer'));
    let events = [entry(7)];
    bff.on('GET', '/api/bucket/core/events', () => ({ events, next_after_seq: null }));
    renderApp(bff, '/audit?user_id=asha');
    await screen.findByText('#7', { selector: 'strong' });
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual(['audit:user:asha']);
    act(() => es.open());
    await waitFor(() => expect(screen.getByRole('heading', { name: /Entries/ }).textContent).toContain('Live'));
    const before = gets(bff, '/api/bucket/core/events');
    act(() => jest.advanceTimersByTime(60_000));
    expect(gets(bff, '/api/bucket/core/events')).toBe(before);
    act(() => es.emit('audit', { topic: 'audit:user:asha', entries: [entry(8, { user_id: 'ravi' })] }));
    expect(gets(bff, '/api/bucket/core/events')).toBe(before);
    events = [entry(7), entry(9)];
    act(() => es.emit('audit', { topic: 'audit:user:asha', entries: [entry(9)] }));
    expect(await screen.findByText('#9', { selector: 'strong' })).toBeTruthy();
    expect(gets(bff, '/api/bucket/core/events')).toBe(before + 1);
  });

  it('karma: Karma recording something for the user reloads the profile and the ledger, with no timed poll while live', async () => {
    jest.useFakeTimers();
    const bff = withStreams(new FakeBff('viewer'));
    let merit = 15;
    bff.on('GET', '/api/karma/api/v1/karma/viewer', () => ({
      user_id: 'viewer', as_of: '2026-11-28T10:00:00.000Z', balances: {}, merit, paap: {}, paap_weighted: 0, net_karma: merit, role: 'learner',
      predicted_next_role: 'volunteer', recommended_action: null, q_values: {},
    }));
    bff.on('GET', '/api/karma/v1/karma/viewer/history', () => ({ user_id: 'viewer', bucket: 'day', since: '2026-10-29T10:00:00.000Z', until: '2026-11-28T10:00:00.000Z', entries: 0, points: [] }));
    renderApp(bff, '/karma');
    await screen.findByText('volunteer');
    expect(screen.getByText('Merit').nextElementSibling?.textContent).toBe('15');
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual(['karma:viewer']);
    act(() => es.open());
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('live'));
    const before = gets(bff, '/api/karma/api/v1/karma/viewer');
    const historyBefore = gets(bff, '/api/karma/v1/karma/viewer/history');
    act(() => jest.advanceTimersByTime(120_000));
    expect(gets(bff, '/api/karma/api/v1/karma/viewer')).toBe(before);
    merit = 40;
    act(() => es.emit('karma', { topic: 'karma:viewer', user_id: 'viewer', marker: { entries: 2, last_seq: '12', last_at: '2026-11-28T10:01:00.000Z' } }));
    await waitFor(() => expect(screen.getByText('Merit').nextElementSibling?.textContent).toBe('40'));
    expect(gets(bff, '/api/karma/v1/karma/viewer/history')).toBe(historyBefore + 1);
  });

  it('workflows: a definition disabled elsewhere shows as disabled without a reload', async () => {
    jest.useFakeTimers();
    const bff = withStreams(new FakeBff('viewer'));
    let enabled = true;
    bff.on('GET', '/api/core/workflows', () => ({ workflows: [workflowSummary({ enabled })], revision: 'r1' }));
    bff.on('GET', '/api/core/workflows/findings', () => ({ findings: [] }));
    bff.on('GET', '/api/core/runs', () => ({ runs: [runSummary()], next_cursor: null }));
    renderApp(bff, '/workflows');
    await screen.findByRole('link', { name: 'onboard-learner' });
    expect(screen.getByText('enabled')).toBeTruthy();
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual(['workflows']);
    act(() => es.open());
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('live'));
    const before = gets(bff, '/api/core/workflows');
    act(() => jest.advanceTimersByTime(60_000));
    expect(gets(bff, '/api/core/workflows')).toBe(before);
    enabled = false;
    act(() => es.emit('workflows', { topic: 'workflows', workflows: ['onboard-learner'] }));
    expect(await screen.findByText('disabled')).toBeTruthy();
    expect(gets(bff, '/api/core/workflows')).toBe(before + 1);
  });

  it('a service behind one of the topics losing its feed pauses live updates until it is back', async () => {
    const bff = withStreams(new FakeBff('viewer'));
    bff.on('GET', '/api/bucket/core/events', () => ({ events: [entry(7)], next_after_seq: null }));
    renderApp(bff, '/audit');
    await screen.findByText('#7', { selector: 'strong' });
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    act(() => es.emit('ready', { topics: ['audit'], upstream: 'down', down: ['bucket'] }));
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('down'));
    act(() => es.emit('upstream', { service: 'bucket', up: true }));
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('live'));
  });
  it('reloads once when the stream is ready, so a change between the first load and the first push is not lost', async () => {
    const bff = withStreams(new FakeBff('viewer'));
    let events = [entry(7)];
    bff.on('GET', '/api/bucket/core/events', () => ({ events, next_after_seq: null }));
    renderApp(bff, '/audit');
    await screen.findByText('#7', { selector: 'strong' });
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    // Written after the view loaded, before the BFF's watch had its position: never pushed.
    events = [entry(7), entry(8)];
    act(() => bff.streams[0].open());
    expect(await screen.findByText('#8', { selector: 'strong' })).toBeTruthy();
  });
});
