/**
 * Where the browser may be sent after sign-in: a same-origin path only. Anything that a browser could read
 * as another origin (`//evil.com`, `/\evil.com`, `https://evil.com`, control characters) falls back to `/`,
 * also when it only becomes one once its dot segments are resolved (`/.//evil.com`, `/..//evil.com`,
 * `/%2e//evil.com` all resolve to `//evil.com`): the result is checked, not only the input.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/';
  if (!value.startsWith('/')) return '/';
  // Browsers treat a backslash like a slash and drop tabs and newlines, so `/\evil.com` and `/\t/evil.com` are `//evil.com`.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return '/';
  if (value.startsWith('//')) return '/';
  try {
    const base = 'http://prana.invalid';
    const url = new URL(value, base);
    if (url.origin !== base) return '/';
    // The Location header carries the resolved path: one that starts with `//` is another host to the browser.
    if (url.pathname.startsWith('//') || url.pathname.includes('\\')) return '/';
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return '/';
  }
}
