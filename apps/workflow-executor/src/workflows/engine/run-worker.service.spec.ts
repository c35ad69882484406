import { ROOT_CONTEXT } from '@opentelemetry/api';
import { deferred, eventually } from '@pancha/testing';
import { testConfig } from '../../config/test-config';
import type { WorkflowSecrets } from '../registry/workflow-secrets';
import type { WorkflowRegistry } from '../registry/workflow-registry.service';
import type { ActionInvoker } from './action-invoker.service';
import { MathRandom, SystemClock } from './engine-clock';
import type { RunEvents } from './run-events';
import { LeaseLostError, type RoundRecord, type RunStore } from './run-store';
import { RunWorker } from './run-worker.service';

/** Lets every callback already queued run (promise jobs and I/O turns), without waiting on the clock. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('RunWorker', () => {
  it('claims no run before the registry has read its definitions', async () => {
    // After a restart the registry reads its definitions in the same bootstrap as the worker starts: a run claimed
    // before that would find no definition and be failed as workflow_not_found.
    const loaded = deferred();
    const claim = jest.fn().mockResolvedValue([]);
    const worker = new RunWorker(
      { claim } as unknown as RunStore,
      { loaded: loaded.promise } as unknown as WorkflowRegistry,
      {} as ActionInvoker,
      {} as RunEvents,
      {} as WorkflowSecrets,
      testConfig({ WORKFLOW_POLL_MS: '60000' }),
      new SystemClock(),
      new MathRandom(),
    );
    worker.start();
    await settle();
    expect(claim).not.toHaveBeenCalled();
    loaded.resolve();
    await eventually(() => expect(claim).toHaveBeenCalledTimes(1));
    await worker.stop();
  });

  it("writes a group's rounds in one statement and goes on only with the runs whose lease held", async () => {
    // Two rounds in one group: the statement answers that only run-a's lease held. run-b's round fails alone with
    // LeaseLostError, and nothing else of it is written: not its later statements, not its events.
    const manager = {};
    const writeRounds = jest.fn(async (_m: unknown, records: readonly RoundRecord[]) => new Set([records.find((r) => r.lease.runId === 'run-a')?.lease.runId as string]));
    const enqueue = jest.fn().mockResolvedValue(undefined);
    const worker = new RunWorker(
      { writeRounds, dataSource: { transaction: (work: (m: unknown) => Promise<unknown>) => work(manager) } } as unknown as RunStore,
      {} as WorkflowRegistry,
      {} as ActionInvoker,
      { enqueue } as unknown as RunEvents,
      {} as WorkflowSecrets,
      testConfig({}),
      new SystemClock(),
      new MathRandom(),
    );
    const then = { 'run-a': jest.fn(), 'run-b': jest.fn() };
    const write = (runId: 'run-a' | 'run-b') => ({
      runId,
      context: ROOT_CONTEXT,
      round: () => ({ lease: { runId, token: `token-${runId}`, wakeVersion: 0 } }) as unknown as RoundRecord,
      then: async (_m: unknown, tail: { messages: unknown[] }) => {
        then[runId]();
        tail.messages.push({ topic: 'bucket.workflow-event', messageKey: runId, payload: {} });
      },
    });
    const rounds = (worker as unknown as { rounds: { submitAll(items: unknown[]): Promise<void>[] } }).rounds;
    const [a, b] = rounds.submitAll([write('run-b'), write('run-a')]).reverse();
    await expect(a).resolves.toBeUndefined();
    await expect(b).rejects.toBeInstanceOf(LeaseLostError);
    expect(writeRounds).toHaveBeenCalledTimes(1);
    expect(writeRounds.mock.calls[0][1].map((r) => r.lease.runId)).toEqual(['run-b', 'run-a']);
    expect(then['run-a']).toHaveBeenCalledTimes(1);
    expect(then['run-b']).not.toHaveBeenCalled();
    expect(enqueue).toHaveBeenCalledWith(manager, [expect.objectContaining({ messageKey: 'run-a' })]);
  });
});
