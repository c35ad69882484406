import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { FakeBff } from '../testing/fake-bff';
import { ONBOARD_MANIFEST, runSummary, workflowSummary } from '../testing/fixtures';
import { renderApp } from '../testing/render';
import type { WorkflowStatsPoint } from '../types';
import { seriesRows } from './workflow-stats';

function serve(bff: FakeBff) {
  bff.on('GET', '/api/core/workflows', () => ({ workflows: [workflowSummary(), workflowSummary({ name: 'notify-ops', enabled: false })], revision: 'r1' }));
  bff.on('GET', '/api/core/workflows/onboard-learner', () => workflowSummary());
  bff.on('GET', '/api/core/workflows/findings', () => ({ findings: [{ file: 'workflows/bad.yaml', line: 3, severity: 'error', message: 'unknown action teleport' }] }));
  bff.on('GET', '/api/core/workflows/onboard-learner/versions/1.0.0', () => ONBOARD_MANIFEST);
  const now = Date.now();
  // The executor's per-bucket series for the charts: two hours of runs in the last day (hourly buckets).
  const hour = (h: number) => new Date(Math.floor(now / 3_600_000) * 3_600_000 - h * 3_600_000).toISOString();
  bff.on('GET', '/api/core/workflows/stats', (req) => ({
    window: req.query.get('window'),
    since: new Date(now - 7 * 86_400_000).toISOString(),
    workflows: [],
    bucket: req.query.get('bucket'),
    series: [
      { at: hour(2), runs: { completed: 4000, failed: 1000 }, total: 5000, p50_ms: 100, p95_ms: 300 },
      { at: hour(1), runs: { running: 2 }, total: 2, p50_ms: null, p95_ms: null },
    ],
  }));
  bff.on('GET', '/api/core/runs', () => ({
    runs: [
      runSummary({ created_at: new Date(now - 3_600_000).toISOString(), duration_ms: 100 }),
      runSummary({ created_at: new Date(now - 3_500_000).toISOString(), duration_ms: 300, status: 'failed' }),
    ],
    next_cursor: null,
  }));
}

describe('Workflows', () => {
  it('lists definitions with enabled state, versions with live runs, and validation findings', async () => {
    const bff = new FakeBff('viewer');
    serve(bff);
    renderApp(bff, '/workflows');
    expect((await screen.findByRole('link', { name: 'onboard-learner' })).getAttribute('href')).toBe('/workflows/onboard-learner');
    expect(screen.getByText('disabled')).toBeTruthy();
    expect(screen.getAllByText('1.0.0 (2)')).toHaveLength(2);
    expect(await screen.findByText(/unknown action teleport/)).toBeTruthy();
    expect(screen.getByText('workflows/bad.yaml:3')).toBeTruthy();
  });

  it("shows on a workflow's page the findings of its files only (a finding names its file, not a workflow)", async () => {
    const bff = new FakeBff('viewer');
    serve(bff);
    bff.on('GET', '/api/core/workflows/findings', () => ({
      loaded_at: '2026-11-28T10:00:00.000Z',
      kept: [{ file: 'onboard-learner-old.yaml', workflow: 'onboard-learner', version: '1.0.0' }],
      findings: [
        { file: 'workflows/bad.yaml', line: 3, severity: 'error', code: 'unknown_action', message: 'unknown action teleport' },
        { file: 'onboard-learner.yaml', line: 7, severity: 'warning', code: 'deprecated_field', message: 'retries is deprecated' },
        { file: 'onboard-learner-v2.yaml', line: 1, severity: 'error', code: 'name_mismatch', message: 'name does not match the file name' },
        { file: 'onboard-learner-old.yaml', line: 2, severity: 'error', code: 'version_immutable', message: 'already registered with other content' },
      ],
    }));
    renderApp(bff, '/workflows/onboard-learner');
    const section = (await screen.findByRole('heading', { name: 'Validation findings' })).closest('section') as HTMLElement;
    await within(section).findByText(/retries is deprecated/);
    expect(within(section).getAllByRole('listitem').map((li) => li.querySelector('code')?.textContent)).toEqual(['onboard-learner.yaml:7', 'onboard-learner-old.yaml:2']);
  });

  it('starts a workflow from a form generated from its inputs schema, typed values, with CSRF', async () => {
    const bff = new FakeBff('operator');
    serve(bff);
    bff.on('POST', '/api/core/workflows/onboard-learner/runs', () => ({ status: 202, body: { run_id: 'r-9', trace_id: 'c'.repeat(32), workflow: 'onboard-learner', version: '1.0.0', status: 'pending' } }));
    bff.on('GET', '/api/core/runs/r-9', () => ({ status: 404, body: { message: 'not yet' } }));
    renderApp(bff, '/workflows/onboard-learner');
    const email = await screen.findByLabelText(/^email/);
    expect(email.getAttribute('type')).toBe('email');
    fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
    expect(await screen.findByText('user_id is required')).toBeTruthy();
    expect(bff.writes()).toHaveLength(0);
    fireEvent.change(screen.getByLabelText(/^user_id/), { target: { value: 'asha' } });
    fireEvent.change(email, { target: { value: 'asha@example.com' } });
    fireEvent.change(screen.getByLabelText(/^attempts/), { target: { value: '3' } });
    fireEvent.click(screen.getByLabelText(/^urgent/));
    fireEvent.change(screen.getByLabelText(/^platforms/), { target: { value: 'web, ios' } });
    fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
    await waitFor(() => expect(bff.writes()).toHaveLength(1));
    const [start] = bff.writes();
    expect(start.path).toBe('/api/core/workflows/onboard-learner/runs');
    expect(start.headers['x-csrf-token']).toBe('csrf-operator');
    expect(start.body).toEqual({ inputs: { user_id: 'asha', email: 'asha@example.com', attempts: 3, urgent: true, platforms: ['web', 'ios'] }, user_id: 'operator', version: '1.0.0' });
    await waitFor(() => expect(window.location.pathname).toBe('/runs/r-9'));
  });

  it('starts a run for the only product of a person restricted to one, and asks for one among several', async () => {
    const start = async (products: string[], choose?: string) => {
      const bff = new FakeBff('operator');
      bff.session = { ...bff.session!, products };
      serve(bff);
      bff.on('POST', '/api/core/workflows/onboard-learner/runs', () => ({ status: 202, body: { run_id: 'r-9', trace_id: 'c'.repeat(32), workflow: 'onboard-learner', version: '1.0.0', status: 'pending' } }));
      bff.on('GET', '/api/core/runs/r-9', () => ({ status: 404, body: { message: 'not yet' } }));
      const view = renderApp(bff, '/workflows/onboard-learner');
      fireEvent.change(await screen.findByLabelText(/^user_id/), { target: { value: 'asha' } });
      fireEvent.change(screen.getByLabelText(/^email/), { target: { value: 'asha@example.com' } });
      if (choose) {
        fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
        expect(await screen.findByText('Choose a product.')).toBeTruthy();
        expect(bff.writes()).toHaveLength(0);
        fireEvent.change(screen.getByLabelText(/^Product/), { target: { value: choose } });
      }
      fireEvent.click(screen.getByRole('button', { name: 'Start run' }));
      await waitFor(() => expect(bff.writes()).toHaveLength(1));
      view.unmount();
      return bff.writes()[0].body;
    };
    expect(await start(['alpha'])).toEqual({ inputs: { user_id: 'asha', email: 'asha@example.com' }, user_id: 'operator', version: '1.0.0', product: 'alpha' });
    expect(await start(['alpha', 'beta'], 'beta')).toEqual({ inputs: { user_id: 'asha', email: 'asha@example.com' }, user_id: 'operator', version: '1.0.0', product: 'beta' });
  });

  it('draws the runs-by-status and p50/p95 charts from the executor’s per-bucket series (every run of 7 days); admin alone can disable', async () => {
    const bff = new FakeBff('viewer');
    serve(bff);
    const { container } = renderApp(bff, '/workflows/onboard-learner');
    await screen.findByText('Runs by status per hour (UTC)');
    const asked = bff.requests.find((r) => r.path === '/api/core/workflows/stats');
    expect(Object.fromEntries(asked?.query ?? [])).toEqual({ window: '7d', name: 'onboard-learner', bucket: 'hour' });
    expect(container.querySelectorAll('.recharts-wrapper').length).toBe(2);
    expect(screen.getByText('5000 runs')).toBeTruthy();
    expect(screen.getByText(/p50 100 ms/)).toBeTruthy();
    expect(screen.getByText(/p95 300 ms/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Disable' })).toBeNull();
  });

  it('an admin disables a workflow', async () => {
    const bff = new FakeBff('admin');
    serve(bff);
    bff.on('POST', '/api/core/workflows/onboard-learner/disable', () => workflowSummary({ enabled: false }));
    renderApp(bff, '/workflows/onboard-learner');
    fireEvent.click(await screen.findByRole('button', { name: 'Disable' }));
    await waitFor(() => expect(bff.writes().map((w) => w.path)).toEqual(['/api/core/workflows/onboard-learner/disable']));
  });
});

describe('seriesRows', () => {
  it('gives each bucket a count for every status (0 where none), its total and percentiles, labelled by hour or day', () => {
    const points: WorkflowStatsPoint[] = [
      { at: '2026-11-28T10:00:00.000Z', runs: { completed: 9, failed: 1 }, total: 10, p50_ms: 500, p95_ms: 1000 },
      { at: '2026-11-28T11:00:00.000Z', runs: { running: 1 }, total: 1, p50_ms: null, p95_ms: null },
    ];
    const s = seriesRows(points, 'hour', ['completed', 'failed', 'running']);
    expect(s).toEqual([
      expect.objectContaining({ label: '10:00', total: 10, completed: 9, failed: 1, running: 0, p50_ms: 500, p95_ms: 1000 }),
      expect.objectContaining({ label: '11:00', total: 1, completed: 0, failed: 0, running: 1, p50_ms: null }),
    ]);
    expect(seriesRows(points, 'day', ['completed'])[0].label).toBe('11-28');
  });
});
