import { ChainFault } from '@pancha/contracts';
import { verifyFailedMessage } from './verify-failed';

describe('verifyFailedMessage', () => {
  it('the same fault found by two different runs is the same event (Core refuses an id sent again with other content)', () => {
    const first = verifyFailedMessage(
      { ok: false, size: 10, head_hash: 'a'.repeat(64), first_bad_seq: 6, reason: ChainFault.ContentHashMismatch, verified_from: 0 },
      new Date('2026-01-01T00:00:00Z'),
    );
    // A later run (incremental, where the first was full): more entries, another head, another anchor, another moment.
    const later = verifyFailedMessage(
      { ok: false, size: 25, head_hash: 'b'.repeat(64), first_bad_seq: 6, reason: ChainFault.ContentHashMismatch, verified_from: 4 },
      new Date('2026-01-02T12:00:00Z'),
    );
    expect(first?.messageKey).toBe('bucket:verify_failed:6:content_hash_mismatch');
    expect(later?.messageKey).toBe(first?.messageKey);
    // Everything Core compares (type, source, subject, data) is equal; only `time`, which Core ignores, differs.
    const { time: firstTime, ...firstContent } = first?.payload as Record<string, unknown>;
    const { time: laterTime, ...laterContent } = later?.payload as Record<string, unknown>;
    expect(laterContent).toEqual(firstContent);
    expect(firstContent).toEqual({
      id: 'bucket:verify_failed:6:content_hash_mismatch',
      type: 'audit.verify_failed',
      source: 'bucket',
      subject: 'seq:6',
      data: { seq: 6, reason: 'content_hash_mismatch' },
    });
    expect([firstTime, laterTime]).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-02T12:00:00.000Z']);
  });

  it('a sound chain is no event', () => {
    expect(verifyFailedMessage({ ok: true, size: 3, head_hash: 'c'.repeat(64) }, new Date())).toBeUndefined();
  });
});
