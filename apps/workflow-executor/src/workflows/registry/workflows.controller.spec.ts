import { ForbiddenException } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import type { VerifiedRequester } from '@pancha/governance';
import type { PluginRegistry } from '../plugins/plugin-registry.service';
import { RunsController } from '../runs/runs.controller';
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

describe('RunsController cancel/retry/signal: who may name the actor', () => {
  const runs = { cancel: jest.fn(), retry: jest.fn(), signal: jest.fn() };
  const controller = new RunsController(runs as unknown as RunsService);
  const run = '7a1d3c1e-0f3b-4a55-9d6f-0d2b9c1f4e12';
  const person: VerifiedRequester = { id: 'user:mallory', user: { sub: 'mallory', username: 'mallory', roles: ['operator'] }, products: ['*'] };
  const core: VerifiedRequester = { id: RequesterId.Core, products: ['*'] };

  beforeEach(() => Object.values(runs).forEach((fn) => fn.mockReset()));

  it('refuses a person naming someone else (403) and reaches nothing', () => {
    expect(() => controller.cancel(run, { actor: 'user:asha' }, person)).toThrow(ForbiddenException);
    expect(() => controller.retry(run, { actor: 'user:asha' }, person)).toThrow(ForbiddenException);
    expect(() => controller.signal(run, 'approve', { payload: 1, actor: 'user:asha' }, person)).toThrow(ForbiddenException);
    expect(runs.cancel).not.toHaveBeenCalled();
    expect(runs.retry).not.toHaveBeenCalled();
    expect(runs.signal).not.toHaveBeenCalled();
  });

  it('records Core\'s forwarded actor, and the caller itself when none is named', async () => {
    await controller.cancel(run, { actor: 'user:asha' }, core);
    expect(runs.cancel).toHaveBeenCalledWith(run, core, 'user:asha');
    await controller.retry(run, {}, person);
    expect(runs.retry).toHaveBeenCalledWith(run, person, 'user:mallory');
    await controller.signal(run, 'approve', { payload: { ok: true }, actor: 'user:asha' }, core);
    expect(runs.signal).toHaveBeenCalledWith(run, 'approve', { ok: true }, core, 'user:asha', undefined);
  });
});
