/**
 * The whole stack as `npm start` starts it (tools/stack startStack, from dist/, PRANA and its embedded OIDC
 * provider included) on free ports, and Debian's Chromium driven by playwright-core. Screenshots go to
 * tmp/prana-e2e/; `step` saves one of the page a failing step failed on.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningStack, startStack } from '@pancha/stack';
import { freePort, testServerUrl } from '@pancha/testing';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '../../..');
export const ARTEFACTS = path.join(ROOT, 'tmp', 'prana-e2e');

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run'];

export async function startBrowserStack(): Promise<{ stack: RunningStack; pranaUrl: string; browser: Browser }> {
  mkdirSync(ARTEFACTS, { recursive: true });
  const services = ['karma', 'bucket', 'core', 'workflow-executor'] as const;
  const ports = Object.fromEntries(await Promise.all(services.map(async (s) => [s, await freePort()] as const)));
  const stack = await startStack({
    log: () => undefined,
    rootDir: ROOT,
    dataDir: mkdtempSync(path.join(tmpdir(), 'prana-e2e-data-')),
    databaseUrl: testServerUrl(),
    databasePrefix: `pranae2e_${randomBytes(3).toString('hex')}_`,
    dropDatabasesOnStop: true,
    ports,
    logDir: mkdtempSync(path.join(tmpdir(), 'prana-e2e-logs-')),
    env: { LOG_LEVEL: 'info', NATS_URL: '', WORKFLOW_CATALOG_REFRESH_MS: '200' },
    serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: path.join(ROOT, 'workflows') } },
    prana: { port: await freePort(), idpPort: await freePort() },
  });
  if (!stack.prana) throw new Error('the stack did not start PRANA');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  return { stack, pranaUrl: stack.prana.url, browser };
}

export function passwordOf(stack: RunningStack, username: string): string {
  const user = stack.prana?.users?.find((u) => u.username === username);
  if (!user) throw new Error(`no dev user ${username}`);
  return user.password;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTEFACTS, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`), fullPage: true });
}

/** A phone (iPhone 12-14 size, touch): the layout must not scroll sideways. */
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

/**
 * The page is wider than the phone: by how many CSS pixels, and the elements that stick out (to fix). Measured
 * against the viewport the context was made with, not innerWidth: with mobile emulation Chromium widens the layout
 * viewport to fit wide content (the page zooms out), so scrollWidth <= innerWidth would hold even then.
 */
export async function horizontalOverflow(page: Page): Promise<{ by: number; culprits: string[] }> {
  const width = page.viewportSize()?.width;
  if (!width) throw new Error('the page has no fixed viewport to measure against');
  return page.evaluate((width) => {
    const by = Math.max(document.documentElement.scrollWidth, window.innerWidth) - width;
    const culprits: string[] = [];
    if (by > 0) {
      for (const el of Array.from(document.querySelectorAll('body *'))) {
        const r = el.getBoundingClientRect();
        if (r.right > width + 1 && culprits.length < 8) culprits.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${String(el.className).split(' ').join('.')} right=${Math.round(r.right)}`);
      }
    }
    return { by, culprits };
  }, width);
}

/** Runs `fn`; if it throws, saves a screenshot of the page as FAILED-<name>.png first. */
export async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    await shot(page, `FAILED-${name}`).catch(() => undefined);
    throw error;
  }
}

/** A fresh browser context (own cookies and localStorage) signed in as `username` through the provider's form. */
export async function signedIn(
  browser: Browser,
  pranaUrl: string,
  stack: RunningStack,
  username: string,
  returnTo = '/',
  device: BrowserContextOptions = { viewport: { width: 1280, height: 900 } },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(device);
  const page = await context.newPage();
  await step(page, `sign-in-${username}`, async () => {
    await page.goto(`${pranaUrl}/auth/login?return_to=${encodeURIComponent(returnTo)}`);
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(passwordOf(stack, username));
    await page.locator('form button[type=submit], form button').first().click();
    await page.getByTestId('who').waitFor({ timeout: 60_000 });
  });
  return { context, page };
}

/** The CSRF token of the page's session (what the console sends on writes). */
export async function csrfOf(page: Page): Promise<string> {
  return page.evaluate(async () => ((await (await fetch('/api/session')).json()) as { csrf_token: string }).csrf_token);
}

export async function apiFrom(page: Page, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return page.evaluate(
    async ({ method, url, body, headers }) => {
      const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed };
    },
    { method, url, body, headers },
  );
}

/** What axe-core's `axe.run` reports of one rule that failed (the fields used here; axe-core's own axe.d.ts has them all). */
export interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  helpUrl: string;
  nodes: Array<{ target: unknown[]; failureSummary?: string }>;
}

let axeSource: string | undefined;

/**
 * Runs axe-core (the devDependency `axe-core`, its documented `axe.run`) on the page as it is and returns the
 * violations that fail a view: every color-contrast one and every serious or critical one (WCAG 2.x A/AA and
 * axe's best practices). Minor and moderate findings are returned apart, to print.
 */
export async function axeCheck(page: Page): Promise<{ failing: AxeViolation[]; other: AxeViolation[] }> {
  axeSource ??= readFileSync(createRequire(__filename).resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, options: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  });
  const fails = (v: AxeViolation) => v.id === 'color-contrast' || v.impact === 'serious' || v.impact === 'critical';
  return { failing: violations.filter(fails), other: violations.filter((v) => !fails(v)) };
}

/** One line per violation and element, to read in a failing test's message. */
export function describeViolations(violations: AxeViolation[]): string[] {
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}) ${JSON.stringify(n.target)}: ${(n.failureSummary ?? v.help).replace(/\s+/g, ' ')}`));
}
