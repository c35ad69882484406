import path from 'node:path';
import { loadPolicy, PolicyError, PolicyService, validatePolicy } from './policy.service';

describe('policy: the people section', () => {
  const repoPolicy = new PolicyService(loadPolicy(path.resolve(__dirname, '../../../config/policy.yaml')));

  it("config/policy.yaml: admin everything, operator start/operate/read/submit, viewer read on Core", () => {
    expect(repoPolicy.peopleOperations('core', ['admin'])).toEqual(['read', 'submit', 'start', 'operate', 'admin']);
    expect(repoPolicy.peopleOperations('core', ['operator'])).toEqual(['read', 'submit', 'start', 'operate']);
    expect(repoPolicy.peopleOperations('core', ['viewer'])).toEqual(['read']);
    expect(repoPolicy.peopleOperations('core', ['viewer', 'operator'])).toEqual(['read', 'submit', 'start', 'operate']);
    expect(repoPolicy.peopleOperations('core', ['guest', 'constructor', '__proto__'])).toEqual([]);
  });

  it('Bucket and Karma accept no person at all; Core and the executor do', () => {
    expect(repoPolicy.acceptsPeople('core')).toBe(true);
    expect(repoPolicy.acceptsPeople('workflow-executor')).toBe(true);
    expect(repoPolicy.acceptsPeople('bucket')).toBe(false);
    expect(repoPolicy.acceptsPeople('karma')).toBe(false);
  });

  it('a policy without the section grants people nothing', () => {
    const policy = new PolicyService(validatePolicy({ services: { core: { prana: ['read'] } } }));
    expect(policy.acceptsPeople('core')).toBe(false);
    expect(policy.peopleOperations('core', ['admin'])).toEqual([]);
    expect(policy.peopleProducts()).toEqual([]);
  });

  it('names every problem with its path', () => {
    expect(() =>
      validatePolicy({ people: { roles: { core: { admin: ['fly'] }, nowhere: {} }, products: 'all', extra: 1 } }),
    ).toThrow(PolicyError);
    try {
      validatePolicy({ people: { roles: { core: { admin: ['fly'] }, nowhere: {} }, products: 'all', extra: 1 } });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/people\.extra: unknown key/);
      expect(message).toMatch(/people\.roles\.core\.admin: unknown operation fly/);
      expect(message).toMatch(/people\.roles\.nowhere: unknown service/);
      expect(message).toMatch(/people\.products: expected a list/);
    }
  });
});
