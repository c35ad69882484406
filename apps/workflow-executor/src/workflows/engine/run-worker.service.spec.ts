import { deferred, eventually } from '@pancha/testing';
import { testConfig } from '../../config/test-config';
import type { WorkflowSecrets } from '../registry/workflow-secrets';
import type { WorkflowRegistry } from '../registry/workflow-registry.service';
import type { ActionInvoker } from './action-invoker.service';
import { SystemClock } from './engine-clock';
import type { RunEvents } from './run-events';
import type { RunStore } from './run-store';
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
    );
    worker.start();
    await settle();
    expect(claim).not.toHaveBeenCalled();
    loaded.resolve();
    await eventually(() => expect(claim).toHaveBeenCalledTimes(1));
    await worker.stop();
  });
});
