/** What a person may do in PRANA, from the roles their identity provider asserts (the contract's list). */
export const PERMISSIONS = [
  'view:tasks',
  'view:runs',
  'view:workflows',
  'view:audit',
  'view:karma',
  'view:events',
  'submit:tasks',
  'start:runs',
  'operate:runs',
  'admin:workflows',
  'view:plugins',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const VIEWER: Permission[] = ['view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events'];
const OPERATOR: Permission[] = [...VIEWER, 'submit:tasks', 'start:runs', 'operate:runs'];

export const ROLE_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  admin: PERMISSIONS,
  operator: OPERATOR,
  viewer: VIEWER,
};

/** The union of the roles' permissions; unknown roles grant nothing. */
export function permissionsFor(roles: readonly string[]): Permission[] {
  const granted = new Set<Permission>();
  // Own keys only: a role named `toString` or `__proto__` is just an unknown role.
  for (const role of roles) if (Object.hasOwn(ROLE_PERMISSIONS, role)) for (const p of ROLE_PERMISSIONS[role]) granted.add(p);
  return PERMISSIONS.filter((p) => granted.has(p));
}

/**
 * The permission a call through `/api/core/<path>` needs, or undefined when PRANA does not pass that call on.
 * Core enforces its own RBAC on the user's token as well: this is the first of two checks, not the only one.
 */
export function corePermission(method: string, path: string): Permission | undefined {
  const m = method.toUpperCase();
  const p = path.replace(/\/+$/, '') || '/';
  if (m === 'GET' || m === 'HEAD') {
    if (/^\/tasks(\/|$)/.test(p)) return 'view:tasks';
    if (/^\/workflows(\/|$)/.test(p)) return 'view:workflows';
    if (/^\/runs(\/|$)/.test(p)) return 'view:runs';
    if (/^\/events(\/|$)/.test(p)) return 'view:events';
    if (/^\/plugins(\/|$)/.test(p)) return 'view:plugins';
    if (/^\/audit(\/|$)/.test(p)) return 'view:audit';
    return undefined;
  }
  if (m !== 'POST') return undefined;
  if (p === '/handle_task' || p === '/handle_tasks') return 'submit:tasks';
  if (/^\/workflows\/[^/]+\/runs$/.test(p)) return 'start:runs';
  if (/^\/workflows\/[^/]+\/(enable|disable)$/.test(p) || p === '/workflows/reload') return 'admin:workflows';
  if (/^\/runs\/[^/]+\/(cancel|retry)$/.test(p) || /^\/runs\/[^/]+\/signals\/[^/]+$/.test(p)) return 'operate:runs';
  return undefined;
}

/** Reading a claim by a dotted path (`realm_access.roles`); a string becomes a one-element list. */
export function rolesFromClaims(claims: Record<string, unknown>, claimPath: string): string[] {
  let value: unknown = claims;
  for (const key of claimPath.split('.')) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
