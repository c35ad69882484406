import { RequesterId } from '@pancha/contracts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoPolicy } from './governance.test-helpers';
import { loadPolicy, PolicyError, PolicyService, resolvePolicyFile, validatePolicy } from './policy.service';

const policy = repoPolicy();

describe('the shipped policy (config/policy.yaml)', () => {
  it('never lets the executor read Bucket, only write to it (T5)', () => {
    expect(policy.isAllowed('bucket', RequesterId.WorkflowExecutor, 'read')).toBe(false);
    expect(policy.isAllowed('bucket', RequesterId.WorkflowExecutor, 'write')).toBe(true);
  });

  it('lets the executor only write events to Karma (T8)', () => {
    expect(policy.allowedOperations('karma', RequesterId.WorkflowExecutor)).toEqual(['write']);
  });

  it('lets only Core execute workflows', () => {
    expect(policy.isAllowed('workflow-executor', RequesterId.Core, 'execute')).toBe(true);
    for (const id of [RequesterId.Prana, RequesterId.Bucket, RequesterId.Karma, RequesterId.WorkflowExecutor]) {
      expect(policy.isAllowed('workflow-executor', id, 'execute')).toBe(false);
    }
    expect(policy.isAllowed('workflow-executor', 'anonymous', 'execute')).toBe(false);
  });

  it('lets anonymous users submit tasks to Core and nothing else anywhere', () => {
    expect(policy.allowedOperations('core', 'anonymous')).toEqual(['submit', 'read']);
    expect(policy.allowedOperations('bucket', 'anonymous')).toEqual([]);
    expect(policy.allowedOperations('karma', 'anonymous')).toEqual([]);
  });

  it('denies whatever is not listed', () => {
    expect(policy.isAllowed('bucket', RequesterId.Core, 'execute')).toBe(false);
    expect(policy.isAllowed('core', RequesterId.Bucket, 'read')).toBe(false);
  });
});

describe('effectiveProducts', () => {
  const p = new PolicyService(validatePolicy({ products: { bhiv_core: ['*'], prana: ['gurukul', 'vedic'] } }));

  it('is the policy list when the token names none', () => {
    expect(p.effectiveProducts(RequesterId.Core)).toEqual(['*']);
    expect(p.effectiveProducts(RequesterId.Prana)).toEqual(['gurukul', 'vedic']);
  });

  it('is the intersection with the token claim, which can only narrow', () => {
    expect(p.effectiveProducts(RequesterId.Core, ['gurukul'])).toEqual(['gurukul']);
    expect(p.effectiveProducts(RequesterId.Prana, ['vedic', 'other'])).toEqual(['vedic']);
    expect(p.effectiveProducts(RequesterId.Prana, ['*'])).toEqual(['gurukul', 'vedic']);
  });

  it('is empty for requesters the policy gives no products', () => {
    expect(p.effectiveProducts(RequesterId.WorkflowExecutor)).toEqual([]);
    expect(p.effectiveProducts(RequesterId.WorkflowExecutor, ['gurukul'])).toEqual([]);
  });
});

describe('policy validation', () => {
  it('names every unknown service, requester and operation', () => {
    expect(() =>
      validatePolicy({
        services: { bukket: {}, bucket: { mallory: ['read'], prana: ['read', 'delete'] } },
        products: { eve: ['*'] },
        extra: 1,
      }),
    ).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /extra: unknown section[\s\S]*services\.bukket: unknown service[\s\S]*services\.bucket\.mallory: unknown requester[\s\S]*services\.bucket\.prana: unknown operation delete[\s\S]*products\.eve: unknown requester/,
        ),
      }),
    );
  });

  it('rejects a non-list of operations', () => {
    expect(() => validatePolicy({ services: { bucket: { prana: 'read' } } })).toThrow(PolicyError);
  });

  describe('from a file', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'policy-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('loads PANCHA_POLICY_FILE when set', () => {
      const file = path.join(dir, 'p.yaml');
      writeFileSync(file, 'services:\n  karma:\n    prana: [read]\n');
      const p = new PolicyService(loadPolicy(resolvePolicyFile({ PANCHA_POLICY_FILE: file })));
      expect(p.isAllowed('karma', RequesterId.Prana, 'read')).toBe(true);
      expect(p.isAllowed('bucket', RequesterId.Core, 'read')).toBe(false);
    });

    it('finds config/policy.yaml at the repository root by default', () => {
      expect(resolvePolicyFile({})).toBe(path.resolve(__dirname, '../../../config/policy.yaml'));
    });

    it('fails with the file name on invalid YAML or a missing file', () => {
      const file = path.join(dir, 'bad.yaml');
      writeFileSync(file, 'services: [');
      expect(() => loadPolicy(file)).toThrow(new RegExp(`${file} is not valid YAML`));
      expect(() => loadPolicy(path.join(dir, 'nope.yaml'))).toThrow(/Cannot read policy file/);
    });
  });
});

describe('who may publish which event types (events section)', () => {
  it('the shipped policy lets each pillar publish only its own events, and operators any', () => {
    expect(policy.isAllowed('core', RequesterId.WorkflowExecutor, 'publish')).toBe(true);
    expect(policy.mayPublish(RequesterId.WorkflowExecutor, 'workflow.completed')).toBe(true);
    expect(policy.mayPublish(RequesterId.WorkflowExecutor, 'kpi.threshold_breach')).toBe(false);
    expect(policy.mayPublish(RequesterId.Karma, 'karma.role_changed')).toBe(true);
    expect(policy.mayPublish(RequesterId.Bucket, 'audit.verify_failed')).toBe(true);
    expect(policy.mayPublish(RequesterId.Operator, 'anything.at_all')).toBe(true);
    expect(policy.mayPublish('anonymous', 'kpi.metric_updated')).toBe(false);
    expect(policy.isAllowed('core', 'anonymous', 'publish')).toBe(false);
  });

  it('refuses an events section naming an unknown requester or a malformed pattern', () => {
    expect(() => validatePolicy({ events: { mallory: ['*'] } })).toThrow(/events\.mallory: unknown requester/);
    expect(() => validatePolicy({ events: { karma: ['karma.**'] } })).toThrow(/events\.karma: expected a list of event types/);
    expect(new PolicyService(validatePolicy({ events: { karma: ['kpi.*'] } })).mayPublish(RequesterId.Karma, 'kpis.x')).toBe(false);
  });
});
