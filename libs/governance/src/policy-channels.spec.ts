import { RequesterId } from '@pancha/contracts';
import { repoPolicy } from './governance.test-helpers';
import { PolicyError, PolicyService, validatePolicy } from './policy.service';

describe('channel ownership in the policy', () => {
  describe('the shipped policy (config/policy.yaml)', () => {
    const policy = repoPolicy();

    it('gives each Bucket channel exactly its owner', () => {
      expect(policy.channelWriters('bucket', 'core')).toEqual([RequesterId.Core]);
      expect(policy.channelWriters('bucket', 'workflow')).toEqual([RequesterId.WorkflowExecutor]);
      expect(policy.channelWriters('bucket', 'prana')).toEqual([RequesterId.Prana]);
    });

    it('refuses the spoofing writes a review found (prana → core, karma → workflow, executor → core)', () => {
      expect(policy.mayWriteChannel('bucket', RequesterId.Prana, 'core')).toBe(false);
      expect(policy.mayWriteChannel('bucket', RequesterId.Karma, 'workflow')).toBe(false);
      expect(policy.mayWriteChannel('bucket', RequesterId.WorkflowExecutor, 'core')).toBe(false);
      expect(policy.mayWriteChannel('bucket', 'anonymous', 'core')).toBe(false);
      expect(policy.mayWriteChannel('bucket', RequesterId.Core, 'nonexistent')).toBe(false);
    });

    it('gives Karma no operation on Bucket (least privilege: it never calls Bucket)', () => {
      expect(policy.allowedOperations('bucket', RequesterId.Karma)).toEqual([]);
    });
  });

  it('keeps services without a channels section free of channel rules', () => {
    const p = new PolicyService(validatePolicy({ services: { bucket: { prana: ['write'] } } }));
    expect(p.mayWriteChannel('bucket', RequesterId.Prana, 'core')).toBe(true);
  });

  it('names every bad channel entry', () => {
    expect(() => validatePolicy({ channels: { bukket: {}, bucket: { core: 'bhiv_core', workflow: ['mallory'] } } })).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /channels\.bukket: unknown service[\s\S]*channels\.bucket\.core: expected a list[\s\S]*channels\.bucket\.workflow: unknown requester mallory/,
        ),
      }),
    );
    expect(() => validatePolicy({ channels: [] })).toThrow(PolicyError);
  });
});
