import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { act } from '@testing-library/react';
import { FakeBff, withStreams } from '../testing/fake-bff';
import { ONBOARD_MANIFEST, runSummary, runView } from '../testing/fixtures';
import { renderApp } from '../testing/render';
import { approvalSignal, stepGraph } from './run-view';

function serve(bff: FakeBff, run = runView()) {
  bff.on('GET', `/api/core/runs/${run.run_id}`, () => run);
  bff.on('GET', '/api/core/workflows/onboard-learner/versions/1.0.0', () => ONBOARD_MANIFEST);
  return run;
}

describe('Run page', () => {
  it('subscribes to its run and reloads it when a change is pushed (no polling while live)', async () => {
    const bff = withStreams(new FakeBff('viewer'));
    let run = serve(bff);
    bff.on('GET', `/api/core/runs/${run.run_id}`, () => run);
    renderApp(bff, `/runs/${run.run_id}`);
    await screen.findByText(/mentor_ok · approval · running/);
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.topics).toEqual([`run:${run.run_id}`]);
    act(() => es.open());
    run = { ...run, status: 'completed', steps: run.steps.map((s) => ({ ...s, status: 'completed' })) };
    act(() => es.emit('runs', { topic: `run:${run.run_id}`, runs: [{ run_id: run.run_id, status: 'completed' }] }));
    await screen.findByText(/mentor_ok · approval · completed/);
    expect(screen.getByTestId('live-state').textContent).toBe('Live');
  });

  it('draws the step graph and shows each step’s attempts, timing, input and output', async () => {
    const bff = new FakeBff('viewer');
    const run = serve(bff);
    const { container } = renderApp(bff, `/runs/${run.run_id}`);
    await screen.findByText(/create_task · action · completed/);
    expect(container.querySelectorAll('.react-flow__node')).toHaveLength(2);
    fireEvent.click(screen.getByRole('button', { name: 'create_task' }));
    expect(await screen.findByRole('heading', { name: 'Step create_task' })).toBeTruthy();
    expect(screen.getByLabelText('step input').textContent).toContain('Welcome u-1');
    expect(screen.getByLabelText('step output').textContent).toContain('"task_id": "t1"');
    expect(screen.getByText(/#1/).textContent).toContain('200 ms');
  });

  it('a viewer sees no cancel, retry or approve button', async () => {
    const bff = new FakeBff('viewer');
    const run = serve(bff);
    renderApp(bff, `/runs/${run.run_id}`);
    await screen.findByText(/mentor_ok · approval · running/);
    expect(screen.queryByRole('button', { name: /Cancel run|Retry run|Approve/ })).toBeNull();
  });

  it('an operator cancels and approves (the manifest’s signal name) with the CSRF token', async () => {
    const bff = new FakeBff('operator');
    const run = serve(bff);
    bff.on('POST', `/api/core/runs/${run.run_id}/cancel`, () => ({ status: 202, body: { ...run, status: 'running' } }));
    bff.on('POST', `/api/core/runs/${run.run_id}/signals/mentor_ok_signal`, () => ({ status: 202, body: { signal_id: 's1' } }));
    renderApp(bff, `/runs/${run.run_id}`);
    fireEvent.click(await screen.findByRole('button', { name: 'Approve mentor_ok' }));
    await waitFor(() => expect(bff.writes()).toHaveLength(1));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Cancel run' }).hasAttribute('disabled')).toBe(false));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel run' }));
    await waitFor(() => expect(bff.writes()).toHaveLength(2));
    const [approve, cancel] = bff.writes();
    expect(approve.path).toBe(`/api/core/runs/${run.run_id}/signals/mentor_ok_signal`);
    expect(approve.body).toEqual({ payload: { approved: true } });
    // One key per wait of the step: a repeat after an unanswered approval is the same signal at Core.
    const wait = run.steps.find((s) => s.kind === 'approval' && (s.status === 'running' || s.status === 'waiting'))!;
    expect(approve.headers['idempotency-key']).toBe(`approve:${run.run_id}:${wait.path}:${wait.started_at ?? ''}`);
    expect(cancel.path).toBe(`/api/core/runs/${run.run_id}/cancel`);
    for (const w of bff.writes()) expect(w.headers['x-csrf-token']).toBe('csrf-operator');
  });

  it('shows retry, not cancel, on a failed run, and the server’s refusal when it says no', async () => {
    const bff = new FakeBff('operator');
    const run = serve(bff, runView({ status: 'failed', error: { code: 'step_failed', message: 'mail bounced', retryable: true } }));
    bff.on('POST', `/api/core/runs/${run.run_id}/retry`, () => ({ status: 409, body: { code: 'run_not_retryable', message: 'the run is not retryable' } }));
    renderApp(bff, `/runs/${run.run_id}`);
    fireEvent.click(await screen.findByRole('button', { name: 'Retry run' }));
    expect(screen.queryByRole('button', { name: 'Cancel run' })).toBeNull();
    expect((await screen.findByText(/Could not load that action/)).closest('[role=alert]')?.textContent).toContain('the run is not retryable');
  });

  it('shows what the start was warned of, as text under a Warnings heading, and nothing when there were none', async () => {
    const bff = new FakeBff('viewer');
    const warnings = ['onboard-learner@1.0.0 is deprecated', 'no live version of onboard-learner matches ^0: started 1.0.0 with the inputs migrated from 0.x'];
    const run = serve(bff, runView({ warnings }));
    renderApp(bff, `/runs/${run.run_id}`);
    const section = (await screen.findByRole('heading', { name: 'Warnings' })).closest('section')!;
    expect(section.getAttribute('aria-labelledby')).toBe('warnings-h');
    expect(within(section).getAllByRole('listitem').map((li) => li.textContent)).toEqual(warnings);

    cleanup();
    const quiet = new FakeBff('viewer');
    const plain = serve(quiet, runView());
    renderApp(quiet, `/runs/${plain.run_id}`);
    await screen.findByText(/create_task · action · completed/);
    expect(screen.queryByRole('heading', { name: 'Warnings' })).toBeNull();
  });

  it('Core’s record of a start the executor never got (no steps, no signals): its warnings are shown too', async () => {
    const bff = new FakeBff('viewer');
    // Core's own record (RunRequestView): the summary's fields, no steps, signals or inputs.
    const queued = { ...runSummary({ status: 'cancelled' }), delivery: 'cancelled', reason: 'cancelled by prana before the executor received it', warnings: ['onboard-learner@1.0.0 is deprecated'] };
    bff.on('GET', `/api/core/runs/${queued.run_id}`, () => queued);
    bff.on('GET', '/api/core/workflows/onboard-learner/versions/1.0.0', () => ONBOARD_MANIFEST);
    renderApp(bff, `/runs/${queued.run_id}`);
    const section = (await screen.findByRole('heading', { name: 'Warnings' })).closest('section')!;
    expect(section.textContent).toContain('onboard-learner@1.0.0 is deprecated');
    expect(screen.getByText('No step has started yet.')).toBeTruthy();
  });

  it('a run view without warnings (an older Core) shows the run, and no Warnings section', async () => {
    const bff = new FakeBff('viewer');
    const older = runView();
    delete (older as Partial<typeof older>).warnings;
    serve(bff, older);
    renderApp(bff, `/runs/${older.run_id}`);
    await screen.findByText(/create_task · action · completed/);
    expect(screen.queryByRole('heading', { name: 'Warnings' })).toBeNull();
  });

  it('a run that does not exist is a clear error', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', /^\/api\/core\/runs\/.+/, () => ({ status: 404, body: { code: 'run_not_found', message: 'no run 123' } }));
    renderApp(bff, '/runs/123');
    expect((await screen.findByText(/Could not load run 123/)).closest('[role=alert]')?.textContent).toContain('It does not exist');
  });
});

describe('stepGraph and approvalSignal', () => {
  it('links a nested step to its parent or previous sibling, and the next top-level step to the group', () => {
    const steps = ['a', 'notify', 'notify.mail', 'notify.text', 'b'].map((p) => ({ ...runView().steps[0], path: p, step_id: p.split('.').pop() ?? p }));
    const g = stepGraph(steps);
    expect(g.edges.map((e) => `${e.source}->${e.target}`)).toEqual(['a->notify', 'notify->notify.mail', 'notify.mail->notify.text', 'notify->b']);
    expect(g.nodes.find((n) => n.id === 'notify.mail')?.position.x).toBeGreaterThan(0);
  });
  it('finds the approval signal in the manifest, else uses the step id', () => {
    expect(approvalSignal(ONBOARD_MANIFEST, 'mentor_ok')).toBe('mentor_ok_signal');
    expect(approvalSignal(ONBOARD_MANIFEST, 'other')).toBe('other');
  });
});
