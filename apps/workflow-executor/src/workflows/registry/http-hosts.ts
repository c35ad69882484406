/**
 * Whether `host` is on an allow-list of exact names (`hooks.example.com`), wildcard subdomains
 * (`*.example.com`, which does not match `example.com` itself) or `*` (anything). Case-insensitive.
 */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase().trim();
    if (p === '*') return true;
    if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
    return h === p;
  });
}
