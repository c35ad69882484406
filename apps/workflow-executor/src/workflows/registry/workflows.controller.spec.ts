import { ForbiddenException } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import type { VerifiedRequester } from '@pancha/governance';
import type { PluginRegistry } from '../plugins/plugin-registry.service';
import type { RunsService } from '../runs/runs.service';
import type { WorkflowStatsService } from '../stats/workflow-stats.service';
import type { WorkflowRegistry } from './workflow-registry.service';
import { WorkflowsController } from './workflows.controller';

// The recorded actor with Core's forwarding is covered end to end in registry.integration-spec.ts; here: who may forward.
describe('WorkflowsController enable/disable: who may name the actor', () => {
  const setEnabled = jest.fn();
  const registry = { versions: () => new Map([['1.0.0', {}]]), setEnabled } as unknown as WorkflowRegistry;
  const controller = new WorkflowsController(registry, {} as RunsService, {} as WorkflowStatsService, {} as PluginRegistry);
  const person: VerifiedRequester = { id: 'user:mallory', user: { sub: 'mallory', username: 'mallory', roles: ['admin'] }, products: ['*'] };
  const prana: VerifiedRequester = { id: RequesterId.Prana, products: ['*'] };

  beforeEach(() => setEnabled.mockReset());

  it.each([
    ['a person with admin on the executor', person],
    ['a service other than Core', prana],
  ])('%s may not record a change in another name: 403, nothing stored', async (_who, requester) => {
    const refused = controller.disable('greet', { reason: 'x', actor: 'user:asha' }, requester);
    await expect(refused).rejects.toBeInstanceOf(ForbiddenException);
    await expect(refused).rejects.toMatchObject({ response: { code: 'forbidden', message: expect.stringContaining('may name the actor') } });
    await expect(controller.enable('greet', { actor: RequesterId.Core }, requester)).rejects.toBeInstanceOf(ForbiddenException);
    expect(setEnabled).not.toHaveBeenCalled();
  });
});
