/**
 * A browser as far as OIDC sign-in needs one: cookies per host (not per port, as browsers keep them), manual
 * redirects so each hop can be checked, forms posted urlencoded. Only specs import this.
 */
export class TestBrowser {
  private readonly jars = new Map<string, Map<string, string>>();

  private jar(url: string): Map<string, string> {
    const host = new URL(url).hostname;
    let jar = this.jars.get(host);
    if (!jar) this.jars.set(host, (jar = new Map()));
    return jar;
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar(url).get(name);
  }

  setCookie(url: string, name: string, value: string): void {
    this.jar(url).set(name, value);
  }

  clearCookie(url: string, name: string): void {
    this.jar(url).delete(name);
  }

  async request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
    const jar = this.jar(url);
    const headers: Record<string, string> = { ...init.headers };
    if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions walk arbitrary bodies
  async json(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; body: any }> {
    const res = await this.request(url, {
      method: init.method,
      headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  }

  /** Follows 3xx hops from `url` until a non-redirect answer; returns it and every URL visited. */
  async follow(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ res: Response; url: string; hops: string[] }> {
    const hops: string[] = [url];
    let current = url;
    let res = await this.request(current, init);
    for (let i = 0; i < 20 && res.status >= 300 && res.status < 400; i++) {
      await res.arrayBuffer();
      current = new URL(res.headers.get('location') as string, current).href;
      hops.push(current);
      res = await this.request(current);
    }
    return { res, url: current, hops };
  }

  /**
   * The whole sign-in: /auth/login on PRANA, the provider's login form filled in, back through the
   * callback. Returns where PRANA finally sent the browser (the return_to) without fetching it.
   */
  async signIn(pranaUrl: string, username: string, password: string, returnTo?: string): Promise<{ landedAt: string; status: number }> {
    const loginUrl = `${pranaUrl}/auth/login${returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`}`;
    const toForm = await this.follow(loginUrl);
    if (toForm.res.status !== 200) throw new Error(`expected the login form, got ${toForm.res.status} at ${toForm.url}: ${await toForm.res.text()}`);
    const html = await toForm.res.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no login form at ${toForm.url}`);
    const formUrl = new URL(action.replace(/&amp;/g, '&'), toForm.url).href;
    let res = await this.request(formUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password }).toString(),
    });
    let current = formUrl;
    // Follow the provider's redirects up to PRANA's callback, then the callback itself, and stop at PRANA's redirect.
    for (let i = 0; i < 20 && res.status >= 300 && res.status < 400; i++) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location') as string, current).href;
      if (current.startsWith(`${pranaUrl}/auth/callback`)) return { landedAt: next, status: res.status };
      current = next;
      res = await this.request(current);
    }
    return { landedAt: current, status: res.status };
  }
}
