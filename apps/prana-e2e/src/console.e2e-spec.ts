/**
 * PRANA in a real browser against the whole stack: sign-in per role through the embedded OIDC provider, the
 * console's views on real data, role limits, CSRF, an expired session, return_to, escaping, and focus telemetry
 * from simulated input to Bucket. Screenshots of each view: tmp/prana-e2e/.
 */
import type { RunningStack } from '@pancha/stack';
import { poll, queryRows } from '@pancha/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { apiFrom, axeCheck, csrfOf, describeViolations, horizontalOverflow, PHONE, shot, signedIn, startBrowserStack, step } from './browser-stack';

jest.setTimeout(300_000);

const XSS = '<img src=x onerror="window.__xss=1">';

describe('PRANA console in Chromium', () => {
  let stack: RunningStack;
  let browser: Browser;
  let pranaUrl: string;
  const contexts: BrowserContext[] = [];
  let approvedRunId = '';
  let submittedTaskId = '';

  beforeAll(async () => {
    ({ stack, browser, pranaUrl } = await startBrowserStack());
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
  });

  async function as(username: string, returnTo = '/'): Promise<Page> {
    const { context, page } = await signedIn(browser, pranaUrl, stack, username, returnTo);
    contexts.push(context);
    page.on('dialog', (d) => {
      throw new Error(`a dialog opened (script ran from data?): ${d.message()}`);
    });
    return page;
  }

  it('each role signs in through the embedded provider and sees the console with its name and role', async () => {
    for (const role of ['admin', 'operator', 'viewer']) {
      const page = await as(role);
      await step(page, `home-${role}`, async () => {
        expect(await page.getByTestId('who').textContent()).toContain(`(${role})`);
        await page.getByRole('heading', { name: 'Tasks and runs' }).waitFor();
        await shot(page, `view-runs-${role}`);
      });
    }
  });

  it('operator submits a task in words and watches it complete live', async () => {
    const page = await as('operator');
    await step(page, 'submit-task', async () => {
      await page.getByLabel('What should Pancha do?').fill(`create a task to review the console ${XSS}`);
      await page.getByRole('button', { name: 'Submit task' }).click();
      const status = page.getByRole('status').filter({ hasText: 'accepted' });
      await status.waitFor({ timeout: 60_000 });
      submittedTaskId = (await status.locator('code').first().textContent()) ?? '';
      // The runs list beside the form is fed by the live stream (GET /api/stream), not by polling.
      await page.locator('[data-testid=live-state][data-state=live]').first().waitFor({ timeout: 60_000 });
      const link = status.getByRole('link', { name: /Follow the task|Watch its run/ });
      const toRun = /Watch its run/.test((await link.textContent()) ?? '');
      await link.click();
      if (toRun) {
        // The run page is live (no polling while it is): completion can only arrive by push.
        await page.locator('[data-testid=live-state][data-state=live]').waitFor({ timeout: 60_000 });
        await page.locator('.facts .badge', { hasText: 'completed' }).waitFor({ timeout: 120_000 });
      } else {
        await page.getByText(/dispatched_success|run_started|completed/).first().waitFor({ timeout: 120_000 });
      }
      await shot(page, 'view-task');
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    });
  });

  it('operator starts onboard-learner from its form, approves the waiting step, and sees the run graph', async () => {
    const page = await as('operator', '/workflows/onboard-learner');
    await step(page, 'start-workflow', async () => {
      await page.getByRole('heading', { name: 'Start a run' }).waitFor({ timeout: 60_000 });
      await page.getByLabel(/^user_id/).fill('asha');
      await page.getByLabel(/^email/).fill('asha@example.com');
      await page.getByLabel(/^mentor/).fill(XSS);
      await shot(page, 'view-workflow');
      await page.getByRole('button', { name: 'Start run' }).click();
      await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, { timeout: 60_000 });
      approvedRunId = page.url().split('/').pop() ?? '';
      // Live: while the stream is up the run page does not poll, so every change below arrives by push.
      await page.locator('[data-testid=live-state][data-state=live]').waitFor({ timeout: 60_000 });
      await page.getByRole('button', { name: 'Approve mentor_ok' }).waitFor({ timeout: 120_000 });
      expect(await page.locator('.react-flow__node').count()).toBeGreaterThan(0);
      await shot(page, 'view-run-waiting');
      await page.getByRole('button', { name: 'Approve mentor_ok' }).click();
      await page.locator('.facts .badge', { hasText: 'completed' }).waitFor({ timeout: 120_000 });
      // Still live when it completed: the page did not fall back to polling, so completion came by push.
      expect(await page.getByTestId('live-state').getAttribute('data-state')).toBe('live');
      expect(await page.getByLabel('run inputs').textContent()).toContain('<img src=x');
      await shot(page, 'view-run-completed');
      // Bucket records the person, not a service, as who started and who approved the run.
      const actors = await poll('the start and the approval in Bucket', async () => {
        const rows = await queryRows<{ event_type: string; actor: string }>(
          stack.databaseUrls.bucket,
          `SELECT event_type, event_data->>'actor' AS actor FROM bucket_entries
            WHERE event_data->>'run_id' = $1 AND event_type IN ('workflow.started', 'workflow.signal_received') ORDER BY seq`,
          [approvedRunId],
        );
        return rows.length === 2 ? rows : undefined;
      }, 60_000);
      expect(actors).toEqual([
        { event_type: 'workflow.started', actor: 'user:operator' },
        { event_type: 'workflow.signal_received', actor: 'user:operator' },
      ]);
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    });
  });

  it('viewer: no cancel button on a run, and a direct cancel call is a 403', async () => {
    expect(approvedRunId).not.toBe('');
    const page = await as('viewer', `/runs/${approvedRunId}`);
    await step(page, 'viewer-cannot-cancel', async () => {
      await page.getByRole('heading', { name: /^Run / }).waitFor({ timeout: 60_000 });
      expect(await page.getByRole('button', { name: /Cancel run|Retry run|Approve/ }).count()).toBe(0);
      const res = await apiFrom(page, 'POST', `/api/core/runs/${approvedRunId}/cancel`, {}, { 'x-csrf-token': await csrfOf(page) });
      expect(res.status).toBe(403);
      expect(res.body).toEqual(expect.objectContaining({ error: 'forbidden' }));
    });
  });

  it('audit: the chain for the run’s trace with hashes, and verify shows the signed checkpoint', async () => {
    const page = await as('operator', '/audit');
    await step(page, 'audit', async () => {
      await page.getByRole('heading', { name: 'Entries' }).waitFor({ timeout: 60_000 });
      await page.locator('.entry').first().waitFor({ timeout: 60_000 });
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByText(/Chain intact/).waitFor({ timeout: 60_000 });
      expect(await page.getByLabel('signed checkpoint').textContent()).toContain('Ed25519');
      await shot(page, 'view-audit');
    });
  });

  it('on a phone (390×844): runs list, a run page, a trace and the audit view never scroll sideways; the menu opens by keyboard and by tap', async () => {
    const { context, page } = await signedIn(browser, pranaUrl, stack, 'operator', '/', PHONE);
    contexts.push(context);
    const noOverflow = async (name: string) => {
      const o = await horizontalOverflow(page);
      await shot(page, `phone-${name}`);
      expect({ view: name, ...o }).toEqual({ view: name, by: expect.any(Number), culprits: [] });
      expect(o.by).toBeLessThanOrEqual(0);
    };
    await step(page, 'phone-runs', async () => {
      await page.getByRole('heading', { name: 'Tasks and runs' }).waitFor({ timeout: 60_000 });
      await page.locator('a[href^="/runs/"]').first().waitFor({ timeout: 60_000 });
      await noOverflow('runs');
    });
    const nav = page.locator('nav#nav');
    const toggle = page.getByRole('button', { name: 'Menu' });
    await step(page, 'phone-menu-keyboard', async () => {
      // The nav is folded away on a phone: only the Menu button shows it.
      expect(await nav.isVisible()).toBe(false);
      expect(await toggle.getAttribute('aria-expanded')).toBe('false');
      await toggle.focus();
      await page.keyboard.press('Enter');
      await nav.getByRole('link', { name: 'Audit' }).waitFor({ state: 'visible' });
      expect(await toggle.getAttribute('aria-expanded')).toBe('true');
      await shot(page, 'phone-menu-open');
      await noOverflow('menu-open');
      await page.keyboard.press('Space');
      await nav.waitFor({ state: 'hidden' });
      expect(await toggle.getAttribute('aria-expanded')).toBe('false');
    });
    await step(page, 'phone-run', async () => {
      await page.locator('a[href^="/runs/"]').first().tap();
      await page.getByRole('heading', { name: /^Run / }).waitFor({ timeout: 60_000 });
      await page.locator('.facts .badge').first().waitFor({ timeout: 60_000 });
      await noOverflow('run');
    });
    await step(page, 'phone-trace', async () => {
      await page.locator('.trace-link a[href^="/traces/"]').first().tap();
      await page.getByRole('list', { name: 'Trace timeline' }).waitFor({ timeout: 60_000 });
      await noOverflow('trace');
    });
    await step(page, 'phone-menu-tap', async () => {
      await toggle.tap();
      await nav.getByRole('link', { name: 'Audit' }).tap();
      await page.getByRole('heading', { name: 'Entries' }).waitFor({ timeout: 60_000 });
      await page.locator('.entry').first().waitFor({ timeout: 60_000 });
      // Following a link closes the menu again.
      await nav.waitFor({ state: 'hidden' });
      await noOverflow('audit');
    });
  });

  it('karma: a profile with a chart', async () => {
    const page = await as('operator', '/karma');
    await step(page, 'karma', async () => {
      await page.getByRole('textbox', { name: 'User' }).fill('operator');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.getByRole('heading', { name: 'Ledger over time' }).waitFor({ timeout: 60_000 });
      await page.locator('.facts, [role=alert]').first().waitFor({ timeout: 60_000 });
      // The ledger chart from Karma's history (the operator earned workflow_success above).
      await page.getByText(/Merit and paap recorded per day/).waitFor({ timeout: 60_000 });
      await page.locator('.recharts-wrapper').first().waitFor({ timeout: 60_000 });
      await shot(page, 'view-karma');
    });
  });

  it('audit updates live: a task submitted from another session appears in the view filtered by its user, without a reload', async () => {
    const user = `live-${Date.now().toString(36)}`;
    const page = await as('operator', `/audit?user_id=${user}`);
    await step(page, 'audit-live', async () => {
      await page.getByText('No audit entries match.').waitFor({ timeout: 60_000 });
      // Live: while the stream is up the view does not poll, so the entry below can only arrive by push.
      await page.locator('[data-testid=live-state][data-state=live]').waitFor({ timeout: 60_000 });
      const navigations: string[] = [];
      page.on('framenavigated', (frame) => frame === page.mainFrame() && navigations.push(frame.url()));
      const other = await as('operator');
      const res = await apiFrom(other, 'POST', '/api/core/handle_task', { input: 'create a task to check the live audit view', user_id: user }, { 'x-csrf-token': await csrfOf(other) });
      expect(res.status).toBe(202);
      await page.locator('.entry').first().waitFor({ timeout: 60_000 });
      expect(await page.locator('.entry').first().textContent()).toContain(`user ${user}`);
      expect(navigations).toEqual([]);
      expect(await page.getByTestId('live-state').getAttribute('data-state')).toBe('live');
      await shot(page, 'view-audit-live');
    });
  });

  it('axe-core on every view, at 1280 px and on a phone (390×844): no color-contrast, serious or critical violation', async () => {
    expect(approvedRunId).not.toBe('');
    expect(submittedTaskId).not.toBe('');
    let traceId = '';
    const views: Array<{ name: string; path: () => string; ready: (page: Page) => Promise<unknown> }> = [
      { name: 'runs', path: () => '/', ready: (p) => p.locator('a[href^="/runs/"]').first().waitFor({ timeout: 60_000 }) },
      { name: 'task', path: () => `/tasks/${submittedTaskId}`, ready: (p) => p.getByRole('heading', { name: 'Timeline' }).waitFor({ timeout: 60_000 }) },
      {
        name: 'run',
        path: () => `/runs/${approvedRunId}`,
        ready: async (p) => {
          await p.locator('.react-flow__node').first().waitFor({ timeout: 60_000 });
          traceId = (await p.locator('a[href^="/traces/"]').first().getAttribute('href'))?.split('/').pop() ?? '';
        },
      },
      { name: 'trace', path: () => `/traces/${traceId}`, ready: (p) => p.getByRole('list', { name: 'Trace timeline' }).waitFor({ timeout: 60_000 }) },
      { name: 'workflows', path: () => '/workflows', ready: (p) => p.getByRole('link', { name: 'onboard-learner' }).first().waitFor({ timeout: 60_000 }) },
      { name: 'workflow', path: () => '/workflows/onboard-learner', ready: (p) => p.locator('.charts .recharts-wrapper').first().waitFor({ timeout: 60_000 }) },
      {
        name: 'audit',
        path: () => '/audit',
        ready: async (p) => {
          await p.locator('.entry').first().waitFor({ timeout: 60_000 });
          await p.getByRole('button', { name: 'Verify' }).click();
          await p.getByText(/Chain intact/).waitFor({ timeout: 60_000 });
        },
      },
      { name: 'karma', path: () => '/karma', ready: (p) => p.locator('.heatmap, .empty-state').first().waitFor({ timeout: 60_000 }) },
      { name: 'telemetry', path: () => '/telemetry', ready: (p) => p.getByTestId('telemetry-status').waitFor({ timeout: 60_000 }) },
    ];
    const found: string[] = [];
    for (const [device, options] of [
      ['desktop', { viewport: { width: 1280, height: 900 } }],
      ['phone', PHONE],
    ] as const) {
      const { context, page } = await signedIn(browser, pranaUrl, stack, 'admin', '/', options);
      contexts.push(context);
      for (const view of views) {
        await step(page, `axe-${device}-${view.name}`, async () => {
          await page.goto(`${pranaUrl}${view.path()}`);
          await view.ready(page);
          const { failing, other } = await axeCheck(page);
          if (other.length) console.log(`axe ${device} ${view.name}, minor/moderate (not failing):\n  ${describeViolations(other).join('\n  ')}`);
          found.push(...describeViolations(failing).map((line) => `${device} ${view.name}: ${line}`));
          if (failing.length) await shot(page, `axe-${device}-${view.name}`);
        });
      }
    }
    expect(found).toEqual([]);
  });

  it('CSRF: a write without the token is a 403; with it the write goes through', async () => {
    const page = await as('operator');
    await step(page, 'csrf', async () => {
      const without = await apiFrom(page, 'POST', '/api/core/handle_task', { input: 'no token', user_id: 'operator' });
      expect(without.status).toBe(403);
      expect(without.body).toEqual(expect.objectContaining({ error: 'csrf' }));
      const wrong = await apiFrom(page, 'POST', '/api/core/handle_task', { input: 'bad token', user_id: 'operator' }, { 'x-csrf-token': 'forged' });
      expect(wrong.status).toBe(403);
      const ok = await apiFrom(page, 'POST', '/api/core/handle_task', { input: 'create a task with a token', user_id: 'operator' }, { 'x-csrf-token': await csrfOf(page) });
      expect(ok.status).toBe(202);
    });
  });

  // Once an open defect: the cookies were cleared while the console's first calls were in flight, and the answer
  // to one of them (sent with the cookie) carried Set-Cookie: prana.sid again (express-session `rolling`), so the
  // reload was signed in. Here an answer is held until the cookies are gone, so the race happens every time.
  it('a session whose cookie is gone shows the sign-in screen, never the old identity; return_to never leaves PRANA', async () => {
    const page = await as('viewer');
    const context = page.context();
    await step(page, 'cookie-gone-reload', async () => {
      await page.getByRole('heading', { name: 'Tasks and runs' }).waitFor();
      let heldStatus = 0;
      await page.route(
        '**/api/core/workflows',
        async (route) => {
          const response = await route.fetch(); // sent with the cookie: signed in
          heldStatus = response.status();
          await context.clearCookies(); // the cookie goes while the answer is on its way
          await route.fulfill({ response });
        },
        { times: 1 },
      );
      // Waited on before the click (the answer can arrive before click() returns), and the held answer itself: the
      // view asks again when its live stream is ready, and that second answer may come first.
      const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/core/workflows' && heldStatus !== 0);
      await page.getByRole('link', { name: 'Workflows' }).click();
      await answered;
      expect(heldStatus).toBe(200);
      expect((await context.cookies()).map((c) => c.name)).not.toContain('prana.sid');
      await page.reload();
      await page.getByRole('link', { name: 'Sign in' }).waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('who').count()).toBe(0);
      await shot(page, 'view-signed-out');
    });

    // Without a reload: the next call of the open console is a 401, and the console says the session is over.
    const second = await as('viewer');
    await step(second, 'cookie-gone-navigate', async () => {
      await second.getByRole('heading', { name: 'Tasks and runs' }).waitFor();
      // The cookie goes when the navigation's own call leaves, not before the click: cleared earlier, a live update
      // of the open page (runs other tests started) could be the first 401 and replace the nav before the click.
      await second.route(
        '**/api/core/workflows',
        async (route) => {
          await second.context().clearCookies();
          await route.continue(); // no header overrides: the browser reads the (now empty) cookie store
        },
        { times: 1 },
      );
      const answer = second.waitForResponse((r) => new URL(r.url()).pathname === '/api/core/workflows');
      await second.getByRole('link', { name: 'Workflows' }).click();
      expect((await answer).status()).toBe(401);
      await second.getByText('Your session has expired').waitFor({ timeout: 60_000 });
      expect(await second.getByTestId('who').count()).toBe(0);
      expect(await second.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe('/auth/login?return_to=%2Fworkflows');
      await shot(second, 'view-expired');
    });
    for (const evil of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
      const { context, page: p } = await signedIn(browser, pranaUrl, stack, 'viewer', evil);
      contexts.push(context);
      expect(new URL(p.url()).origin).toBe(new URL(pranaUrl).origin);
    }
  });

  it('telemetry: simulated input gives the expected states; packets reach Bucket under the user; offline then online delivers once', async () => {
    const page = await as('operator', '/telemetry');
    await step(page, 'telemetry', async () => {
      await page.getByTestId('telemetry-status').filter({ hasText: 'running' }).waitFor({ timeout: 30_000 });
      // Click into the work area and type: ON_TASK.
      await page.locator('main').click({ position: { x: 5, y: 5 } });
      // Typing until the state shows (a condition, not a fixed number of keys over a fixed time).
      const onTask = page.getByTestId('telemetry-state').filter({ hasText: 'ON_TASK' });
      await poll('ON_TASK', async () => {
        await page.keyboard.press('Shift');
        return (await onTask.count()) > 0 ? true : undefined;
      }, 30_000);
      // Focus leaves the work area (the sign-out button in the header): DISTRACTED within 5 s of the last change.
      await page.getByRole('button', { name: 'Sign out' }).focus();
      await page.getByTestId('telemetry-state').filter({ hasText: 'DISTRACTED' }).waitFor({ timeout: 30_000 });
      // Back in the work area, rapid clicks: OFF_TASK.
      await page.locator('main').click({ position: { x: 5, y: 5 } });
      const offTask = page.getByTestId('telemetry-state').filter({ hasText: 'OFF_TASK' });
      await poll('OFF_TASK', async () => {
        await page.locator('main').click({ position: { x: 5, y: 5 }, clickCount: 1 });
        await page.locator('main').click({ position: { x: 6, y: 5 } });
        await page.locator('main').click({ position: { x: 7, y: 5 } });
        return (await offTask.count()) > 0 ? true : undefined;
      }, 60_000);
      await shot(page, 'view-telemetry');

      // Packets arrive in Bucket under the signed-in user (batches of 5: every 25 s).
      await poll('packets in Bucket', async () => {
        const rows = await queryRows<{ n: string }>(stack.databaseUrls.bucket, `SELECT count(*) AS n FROM bucket_entries WHERE event_type = 'prana_packet' AND user_id = $1`, ['operator']);
        return Number(rows[0].n) >= 5 ? true : undefined;
      }, 120_000);
      // Each entry keeps the original packet (docs/PRANA.md), not only the state.
      const [stored] = await queryRows<{ event_data: Record<string, unknown> }>(
        stack.databaseUrls.bucket,
        `SELECT event_data FROM bucket_entries WHERE event_type = 'prana_packet' AND user_id = $1 ORDER BY seq DESC LIMIT 1`,
        ['operator'],
      );
      const d = stored.event_data as { active_seconds: number; idle_seconds: number; away_seconds: number; focus_score: number; raw_signals: Record<string, unknown> };
      expect(stored.event_data).toEqual(expect.objectContaining({ user_id: 'operator', lesson_id: 'prana-console', system_type: 'ems', role: 'employee', focus_score: expect.any(Number) }));
      expect(d.active_seconds + d.idle_seconds + d.away_seconds).toBeCloseTo(5, 5);
      expect(d.raw_signals).toEqual(expect.objectContaining({ keystrokes: expect.any(Number), visible: expect.any(Boolean), panel_focused: expect.any(Boolean) }));

      // Offline: packets queue in localStorage; online: the queue goes once.
      await page.context().setOffline(true);
      const queued = await poll('a queue of 6', async () => {
        const ids = await page.evaluate(() => {
          const raw = localStorage.getItem('prana.telemetry.queue:operator');
          return raw ? (JSON.parse(raw) as { packets: Array<{ event_id: string }> }).packets.map((p) => p.event_id) : [];
        });
        return ids.length >= 6 ? ids : undefined;
      }, 120_000);
      await page.context().setOffline(false);
      await poll('the queue delivered', async () => {
        const rows = await queryRows<{ event_id: string; user_id: string }>(
          stack.databaseUrls.bucket,
          `SELECT event_id::text AS event_id, user_id FROM bucket_entries WHERE event_type = 'prana_packet' AND event_id = ANY($1::uuid[])`,
          [queued],
        );
        if (rows.length < queued.length) return undefined;
        expect(rows).toHaveLength(queued.length);
        for (const r of rows) expect(r.user_id).toBe('operator');
        return true;
      }, 120_000);
    });
  });
});
