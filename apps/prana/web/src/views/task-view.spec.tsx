import { act, screen, waitFor } from '@testing-library/react';
import type { CoreTaskView } from '../types';
import { FakeBff, withStreams } from '../testing/fake-bff';
import { renderApp } from '../testing/render';

const TASK_ID = '0b7c6f0e-1111-4a55-9d3c-1234567890ab';
const RUN_ID = '5d2e0c1a-2222-4b66-8e4d-abcdef012345';

function task(over: Partial<CoreTaskView> = {}): CoreTaskView {
  return {
    task_id: TASK_ID,
    trace_id: 'a'.repeat(32),
    user_id: 'u-1',
    product: null,
    decision: { action_type: 'start_workflow' } as unknown as CoreTaskView['decision'],
    action_type: 'start_workflow',
    workflow: 'onboard-learner',
    run_id: RUN_ID,
    status: 'run_started' as CoreTaskView['status'],
    agent_note: null,
    execution_result: null,
    created_at: '2026-11-28T10:00:00.000Z',
    updated_at: '2026-11-28T10:00:00.000Z',
    timeline: [],
    ...over,
  };
}

const taskGets = (bff: FakeBff) => bff.requests.filter((r) => r.method === 'GET' && r.path === `/api/core/tasks/${TASK_ID}`).length;

describe('Task page', () => {
  afterEach(() => jest.useRealTimers());

  it('follows the run the task started on the live stream: a push reloads the task and shows the run’s status', async () => {
    const bff = withStreams(new FakeBff('viewer'));
    let t = task();
    bff.on('GET', `/api/core/tasks/${TASK_ID}`, () => t);
    renderApp(bff, `/tasks/${TASK_ID}`);
    await screen.findByRole('link', { name: 'onboard-learner' });
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual([`audit:trace:${'a'.repeat(32)}`, `run:${RUN_ID}`]);
    act(() => es.open());
    await waitFor(() => expect(screen.getByTestId('live-state').textContent).toBe('Live'));
    const before = taskGets(bff);
    t = task({ timeline: [{ seq: 7, event_type: 'workflow.run.completed', created_at: '2026-11-28T10:00:05.000Z', event_data: { run_id: RUN_ID } } as unknown as CoreTaskView['timeline'][number]] });
    act(() => es.emit('runs', { topic: `run:${RUN_ID}`, runs: [{ run_id: RUN_ID, status: 'completed' }] }));
    await screen.findByText('workflow.run.completed');
    expect(taskGets(bff)).toBe(before + 1);
    expect(screen.getByText('completed').className).toContain('badge');
  });

  it('does not poll while live, and polls (slowly) while the stream is down', async () => {
    jest.useFakeTimers();
    const bff = withStreams(new FakeBff('viewer'));
    bff.on('GET', `/api/core/tasks/${TASK_ID}`, () => task());
    renderApp(bff, `/tasks/${TASK_ID}`);
    await screen.findByRole('link', { name: 'onboard-learner' });
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    act(() => es.open());
    const live = taskGets(bff);
    act(() => jest.advanceTimersByTime(60_000));
    expect(taskGets(bff)).toBe(live);
    act(() => es.drop());
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('down'));
    act(() => jest.advanceTimersByTime(16_000));
    await waitFor(() => expect(taskGets(bff)).toBeGreaterThan(live));
  });

  it('a task still dispatching (no run in the feed) follows its trace live: a new Bucket entry of the trace brings the outcome, with no timed poll', async () => {
    jest.useFakeTimers();
    const bff = withStreams(new FakeBff('viewer'));
    let t = task({ run_id: null, workflow: null, status: 'dispatching' as CoreTaskView['status'] });
    bff.on('GET', `/api/core/tasks/${TASK_ID}`, () => t);
    renderApp(bff, `/tasks/${TASK_ID}`);
    await screen.findByText('dispatching');
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual([`audit:trace:${'a'.repeat(32)}`]);
    act(() => es.open());
    await waitFor(() => expect(screen.getByTestId('live-state').getAttribute('data-state')).toBe('live'));
    // While live nothing is asked again, however long the task stays dispatching.
    const waiting = taskGets(bff);
    act(() => jest.advanceTimersByTime(60_000));
    expect(taskGets(bff)).toBe(waiting);
    t = task({ run_id: null, workflow: null, status: 'dispatched_success' as CoreTaskView['status'] });
    act(() => es.emit('audit', { topic: `audit:trace:${'a'.repeat(32)}`, entries: [{ seq: 9, event_type: 'workflow_execution', trace_id: 'a'.repeat(32) }] }));
    await screen.findByText('dispatched_success');
    expect(taskGets(bff)).toBe(waiting + 1);
    expect(screen.queryByText('dispatching')).toBeNull();
  });
});
