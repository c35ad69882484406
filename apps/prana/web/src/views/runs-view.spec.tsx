import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { FakeBff, withStreams } from '../testing/fake-bff';
import { runSummary } from '../testing/fixtures';
import { renderApp } from '../testing/render';

describe('Tasks and runs', () => {
  it('lists runs from the server, filters and pages on the server (cursor), each linked to its run and trace', async () => {
    const bff = new FakeBff('viewer');
    const page1 = Array.from({ length: 50 }, () => runSummary());
    const page2 = [runSummary({ status: 'failed', workflow: 'notify-ops' })];
    bff.on('GET', '/api/core/runs', (req) => ({
      runs: req.query.get('cursor') === 'c2' ? page2 : req.query.get('status') === 'failed' ? page2 : page1,
      next_cursor: req.query.get('cursor') ? null : 'c2',
    }));
    renderApp(bff, '/');
    await screen.findByText(page1[0].run_id.slice(0, 8));
    expect(screen.getAllByRole('row')).toHaveLength(51);
    const link = screen.getByRole('link', { name: page1[0].run_id.slice(0, 8) });
    expect(link.getAttribute('href')).toBe(`/runs/${page1[0].run_id}`);
    expect(screen.getAllByRole('link', { name: /in Jaeger/ })[0].getAttribute('href')).toBe(`http://jaeger.test:16686/trace/${'a'.repeat(32)}`);

    fireEvent.click(screen.getByRole('button', { name: 'Next →' }));
    await screen.findByText('notify-ops');
    expect(bff.requests.filter((r) => r.path === '/api/core/runs').at(-1)?.query.get('cursor')).toBe('c2');

    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'failed' } });
    await waitFor(() => expect(bff.requests.filter((r) => r.path === '/api/core/runs').at(-1)?.query.get('status')).toBe('failed'));
    const last = bff.requests.filter((r) => r.path === '/api/core/runs').at(-1);
    expect(last?.query.get('cursor')).toBeNull();
    expect(last?.query.get('limit')).toBe('50');
  });

  it('shows an empty state, and an error naming the service that is down', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    const { unmount } = renderApp(bff, '/');
    await screen.findByText('No runs match these filters.');
    unmount();

    const down = new FakeBff('viewer');
    down.health = { core: 'down', executor: 'up', bucket: 'up', karma: 'up' };
    down.on('GET', '/api/core/runs', () => ({ status: 502, body: { error: 'service_unavailable', message: 'core cannot be reached', service: 'core' } }));
    renderApp(down, '/');
    expect(await screen.findByText(/core is down/)).toBeTruthy();
    const alert = await screen.findByText(/Could not load runs/);
    expect(alert.closest('[role=alert]')?.textContent).toContain('core cannot be reached');
  });

  it('submits a task in words with the CSRF token and links to its run', async () => {
    const bff = new FakeBff('operator');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    bff.on('POST', '/api/core/handle_task', () => ({ status: 202, body: { task_id: 't-1', trace_id: 'b'.repeat(32), status: 'PENDING', run_id: 'r-1', workflow: 'onboard-learner' } }));
    renderApp(bff, '/');
    fireEvent.change(await screen.findByLabelText('What should Pancha do?'), { target: { value: 'Onboard Asha' } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit task' }));
    const status = await screen.findByRole('status');
    expect(within(status).getByRole('link', { name: /Watch its run/ }).getAttribute('href')).toBe('/runs/r-1');
    const [write] = bff.writes();
    expect(write.headers['x-csrf-token']).toBe('csrf-operator');
    expect(write.body).toEqual({ input: 'Onboard Asha', user_id: 'operator' });
  });

  it('submits a task for the only product of a person restricted to one, and asks for one among several', async () => {
    const one = new FakeBff('operator');
    one.session = { ...one.session!, products: ['alpha'] };
    one.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    one.on('POST', '/api/core/handle_task', () => ({ status: 202, body: { task_id: 't-1', trace_id: 'b'.repeat(32), status: 'PENDING' } }));
    const { unmount } = renderApp(one, '/');
    fireEvent.change(await screen.findByLabelText('What should Pancha do?'), { target: { value: 'Onboard Asha' } });
    expect(screen.getByText('alpha').closest('p')?.textContent).toBe('For product alpha');
    fireEvent.click(screen.getByRole('button', { name: 'Submit task' }));
    await screen.findByRole('status');
    expect(one.writes().map((w) => w.body)).toEqual([{ input: 'Onboard Asha', user_id: 'operator', product: 'alpha' }]);
    unmount();

    const several = new FakeBff('operator');
    several.session = { ...several.session!, products: ['alpha', 'beta'] };
    several.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    several.on('POST', '/api/core/handle_task', () => ({ status: 202, body: { task_id: 't-2', trace_id: 'b'.repeat(32), status: 'PENDING' } }));
    renderApp(several, '/');
    fireEvent.change(await screen.findByLabelText('What should Pancha do?'), { target: { value: 'Onboard Asha' } });
    const select = screen.getByLabelText(/^Product/) as HTMLSelectElement;
    expect(select.required).toBe(true);
    expect([...select.options].map((o) => o.value)).toEqual(['', 'alpha', 'beta']);
    fireEvent.submit(select.form!);
    expect(await screen.findByText('Choose a product.')).toBeTruthy();
    expect(several.writes()).toHaveLength(0);
    fireEvent.change(select, { target: { value: 'beta' } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit task' }));
    await screen.findByRole('status');
    expect(several.writes().map((w) => w.body)).toEqual([{ input: 'Onboard Asha', user_id: 'operator', product: 'beta' }]);
  });

  it('a viewer gets no task form', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    renderApp(bff, '/');
    await screen.findByText('No runs match these filters.');
    expect(screen.queryByLabelText('What should Pancha do?')).toBeNull();
  });

  it('updates the list from the live stream: a pushed change patches its row, a new run reloads, a reconnect reloads once', async () => {
    const bff = withStreams(new FakeBff('viewer'));
    const run = runSummary({ status: 'running' });
    const other = runSummary({ status: 'running' });
    let list = [run];
    bff.on('GET', '/api/core/runs', () => ({ runs: list, next_cursor: null }));
    renderApp(bff, '/');
    await screen.findByText(run.run_id.slice(0, 8));
    await waitFor(() => expect(bff.streams).toHaveLength(1));
    const es = bff.streams[0];
    expect(es.url).toBe('/api/stream?topics=runs');
    act(() => es.open());
    expect(screen.getByTestId('live-state').textContent).toBe('Live');
    const loads = () => bff.requests.filter((r) => r.path === '/api/core/runs').length;
    const before = loads();

    // the run completes: its row changes without asking the server
    act(() => es.emit('runs', { topic: 'runs', runs: [{ ...run, status: 'completed' }] }));
    expect(within(screen.getByRole('table')).getByText('completed')).toBeTruthy();
    expect(loads()).toBe(before);

    // a new run: the first page is asked for again
    list = [other, run];
    act(() => es.emit('runs', { topic: 'runs', runs: [other] }));
    await screen.findByText(other.run_id.slice(0, 8));
    expect(loads()).toBe(before + 1);

    // a drop: paused (polling slowly); back: one reload
    act(() => es.drop());
    expect(screen.getByTestId('live-state').textContent).toMatch(/paused; refreshing every 15 s/);
    act(() => es.open());
    await waitFor(() => expect(loads()).toBe(before + 2));
    expect(screen.getByTestId('live-state').textContent).toBe('Live');
  });

  it('polls slowly, and says so, only while the stream is down', async () => {
    jest.useFakeTimers();
    try {
      const bff = withStreams(new FakeBff('viewer'));
      const run = runSummary({ status: 'running' });
      bff.on('GET', '/api/core/runs', () => ({ runs: [run], next_cursor: null }));
      renderApp(bff, '/');
      await act(async () => {
        await jest.advanceTimersByTimeAsync(100);
      });
      const es = bff.streams[0];
      act(() => es.open());
      const loads = () => bff.requests.filter((r) => r.path === '/api/core/runs').length;
      const live = loads();
      await act(async () => {
        await jest.advanceTimersByTimeAsync(60_000);
      });
      expect(loads()).toBe(live); // live: no polling at all
      act(() => es.emit('upstream', { up: false, message: 'Core is not answering' }));
      expect(screen.getByTestId('live-state').dataset.state).toBe('down');
      run.status = 'completed';
      await act(async () => {
        await jest.advanceTimersByTimeAsync(15_100);
      });
      expect(within(screen.getByRole('table')).getByText('completed')).toBeTruthy();
      expect(loads()).toBe(live + 1);
    } finally {
      jest.useRealTimers();
    }
  });
});
