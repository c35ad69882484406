import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { Api } from './api';
import { App, telemetryProduct } from './app';
import { FakeBff } from './testing/fake-bff';
import { runSummary, runView, workflowSummary } from './testing/fixtures';
import { renderApp } from './testing/render';

const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

afterEach(() => {
  delete (window as unknown as { __xss?: number }).__xss;
});

describe('Session', () => {
  it('asks for the session once when the app builds its own Api (no render loop)', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    const saved = globalThis.fetch;
    globalThis.fetch = bff.fetch as typeof fetch;
    try {
      window.history.replaceState(null, '', '/');
      localStorage.setItem('PRANA_DISABLED', '1');
      render(<App />);
      await screen.findByText('No runs match these filters.');
      await act(async () => {
        await new Promise((r) => setTimeout(r, 200));
      });
      expect(bff.requests.filter((r) => r.path === '/api/session')).toHaveLength(1);
    } finally {
      globalThis.fetch = saved;
    }
  });

  it('signed out: a sign-in link that returns to the page asked for', async () => {
    renderApp(new FakeBff(null), '/runs/abc?x=1');
    const link = await screen.findByRole('link', { name: 'Sign in' });
    expect(link.getAttribute('href')).toBe(`/auth/login?return_to=${encodeURIComponent('/runs/abc?x=1')}`);
  });

  it('an expired session (a 401 mid-use) shows the sign-in screen, not a broken page', async () => {
    const bff = new FakeBff('viewer');
    let expired = false;
    bff.on('GET', '/api/core/runs', () => (expired ? { status: 401, body: { error: 'unauthenticated', login_url: '/auth/login' } } : { runs: [runSummary()], next_cursor: null }));
    renderApp(bff, '/');
    await screen.findByText('onboard-learner');
    expired = true;
    fireEvent.click(screen.getByRole('link', { name: 'Workflows' }));
    fireEvent.click(screen.getByRole('link', { name: 'Tasks and runs' }));
    expect(await screen.findByText(/Your session has expired/)).toBeTruthy();
  });

  it('the header links move within the page (no reload): the menu closing does not replace the router', async () => {
    // The nav passed its own onClick (close the menu) to Link, which overrode Link's: every header click was a
    // full page load, which is how the browser e2e's click after clearing cookies became a reload.
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    bff.on('GET', '/api/core/workflows', () => ({ workflows: [] }));
    renderApp(bff, '/');
    await screen.findByText('No runs match these filters.');
    const notCancelled = fireEvent.click(screen.getByRole('link', { name: 'Workflows' }));
    expect(notCancelled).toBe(false);
    expect(window.location.pathname).toBe('/workflows');
    await waitFor(() => expect(bff.requests.map((r) => r.path)).toContain('/api/core/workflows'));
    expect(bff.requests.filter((r) => r.path === '/api/session')).toHaveLength(1);
  });

  it('navigation follows the role: a viewer sees no admin or write controls', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    renderApp(bff, '/');
    expect(await screen.findByTestId('who')).toHaveProperty('textContent', 'The viewer (viewer)');
    expect(screen.getAllByRole('link').map((a) => a.textContent)).toEqual(expect.arrayContaining(['Tasks and runs', 'Workflows', 'Audit', 'Karma', 'Telemetry']));
  });

  it('signs out with the CSRF token', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/core/runs', () => ({ runs: [], next_cursor: null }));
    bff.on('POST', '/auth/logout', () => ({ status: 204, body: null }));
    const assign = jest.fn();
    renderApp(bff, '/', assign);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith('/'));
    expect(bff.writes()[0].headers['x-csrf-token']).toBe('csrf-viewer');
  });
});

describe('User data is escaped (no markup from data ever runs)', () => {
  it('in a workflow name and description, a run’s inputs, a task input and an audit event payload', async () => {
    const bff = new FakeBff('operator');
    bff.on('GET', '/api/core/workflows', () => ({ workflows: [workflowSummary({ name: XSS, description: XSS })], revision: 'r' }));
    bff.on('GET', '/api/core/workflows/findings', () => ({ findings: [{ message: XSS }] }));
    bff.on('GET', '/api/core/runs', () => ({ runs: [runSummary({ workflow: XSS, user_id: XSS })], next_cursor: null }));
    const run = runView({ inputs: { note: XSS }, workflow: 'onboard-learner' });
    run.steps[0].output = { html: XSS };
    bff.on('GET', `/api/core/runs/${run.run_id}`, () => run);
    bff.on('GET', /versions/, () => ({}));
    bff.on('GET', '/api/bucket/core/events', () => ({ events: [{ seq: 1, event_id: 'e', requester_id: XSS, channel: 'core', event_type: XSS, trace_id: null, product: XSS, user_id: XSS, event_data: { input: XSS }, content_hash: 'c', prev_hash: 'p', hash: 'h', created_at: 'x' }], next_after_seq: null }));
    bff.on('POST', '/api/core/handle_task', (req) => ({ status: 202, body: { task_id: (req.body as { input: string }).input, trace_id: 'e'.repeat(32), status: 'PENDING' } }));

    const { container, unmount } = renderApp(bff, '/workflows');
    await screen.findAllByText(XSS);
    expect(container.querySelector('img, script')).toBeNull();
    unmount();

    const r2 = renderApp(bff, '/');
    await screen.findAllByText(XSS);
    fireEvent.change(screen.getByLabelText('What should Pancha do?'), { target: { value: XSS } });
    fireEvent.click(screen.getByRole('button', { name: 'Submit task' }));
    await screen.findByRole('status');
    expect(r2.container.querySelector('img, script')).toBeNull();
    r2.unmount();

    const r3 = renderApp(bff, `/runs/${run.run_id}`);
    expect((await screen.findByLabelText('run inputs')).textContent).toContain('<img src=x onerror=');
    fireEvent.click(screen.getByRole('button', { name: 'create_task' }));
    expect((await screen.findByLabelText('step output')).textContent).toContain('<img');
    expect(r3.container.querySelector('img, script')).toBeNull();
    r3.unmount();

    const r4 = renderApp(bff, '/audit');
    expect((await screen.findByLabelText('event 1 data')).textContent).toContain('<script>');
    expect(r4.container.querySelector('img, script')).toBeNull();
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
  });
});

describe('Telemetry and the products people see', () => {
  it('names no product when people see every product, the first of theirs when restricted, and is off with none', () => {
    expect(telemetryProduct({})).toEqual({ disabled: false });
    expect(telemetryProduct({ products: ['*'] })).toEqual({ disabled: false });
    expect(telemetryProduct({ products: ['alpha', 'beta'] })).toEqual({ product: 'alpha', disabled: false });
    expect(telemetryProduct({ products: [] })).toEqual({ disabled: true });
  });

  it("a restricted person's console builds its packets naming their first product (the BFF refuses them without one)", async () => {
    jest.useFakeTimers();
    try {
      const bff = new FakeBff('viewer');
      bff.session = { ...bff.session!, products: ['alpha', 'beta'] };
      window.history.replaceState(null, '', '/telemetry');
      localStorage.clear();
      render(<App api={new Api(bff.fetch as typeof fetch)} />);
      await waitFor(() => expect(screen.getByTestId('telemetry-status').textContent).toBe('running'));
      await act(async () => {
        await jest.advanceTimersByTimeAsync(5_000);
      });
      fireEvent.click(screen.getByRole('button', { name: /Show packet/ }));
      const packet = JSON.parse(screen.getAllByLabelText(/^packet /)[0].textContent ?? '{}');
      expect(packet).toEqual(expect.objectContaining({ product: 'alpha', user_id: 'viewer' }));
    } finally {
      jest.useRealTimers();
    }
  });
});
