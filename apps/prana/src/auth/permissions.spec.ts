import { corePermission, permissionsFor, rolesFromClaims } from './permissions';

describe('permissions', () => {
  it('maps the roles of the contract', () => {
    expect(permissionsFor(['viewer'])).toEqual(['view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events']);
    expect(permissionsFor(['operator'])).toEqual(expect.arrayContaining(['submit:tasks', 'start:runs', 'operate:runs']));
    expect(permissionsFor(['operator'])).not.toContain('admin:workflows');
    expect(permissionsFor(['admin'])).toEqual(expect.arrayContaining(['admin:workflows', 'view:plugins']));
    expect(permissionsFor(['unknown', 'toString'])).toEqual([]);
  });

  it.each([
    ['POST', '/handle_task', 'submit:tasks'],
    ['POST', '/handle_tasks', 'submit:tasks'],
    ['GET', '/tasks/1', 'view:tasks'],
    ['GET', '/workflows/stats', 'view:workflows'],
    ['POST', '/workflows/onboard/runs', 'start:runs'],
    ['POST', '/workflows/onboard/enable', 'admin:workflows'],
    ['POST', '/workflows/onboard/disable', 'admin:workflows'],
    ['GET', '/runs', 'view:runs'],
    ['POST', '/runs/1/cancel', 'operate:runs'],
    ['POST', '/runs/1/retry', 'operate:runs'],
    ['POST', '/runs/1/signals/approve', 'operate:runs'],
    ['GET', '/events/1', 'view:events'],
    ['GET', '/plugins', 'view:plugins'],
  ])('%s %s needs %s', (method, path, permission) => {
    expect(corePermission(method, path)).toBe(permission);
  });

  it('passes nothing else on', () => {
    expect(corePermission('DELETE', '/runs/1')).toBeUndefined();
    expect(corePermission('POST', '/runs/1/delete')).toBeUndefined();
    expect(corePermission('GET', '/metrics')).toBeUndefined();
  });

  it('reads roles from a dotted claim path, a list or a space-separated string', () => {
    expect(rolesFromClaims({ realm_access: { roles: ['admin', 7] } }, 'realm_access.roles')).toEqual(['admin']);
    expect(rolesFromClaims({ roles: 'viewer operator' }, 'roles')).toEqual(['viewer', 'operator']);
    expect(rolesFromClaims({}, 'roles')).toEqual([]);
  });
});
