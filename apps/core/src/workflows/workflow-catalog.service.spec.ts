// Shutdown waits out a catalog fetch in flight: its cache write must not run into a closing database pool.
import type { WorkflowCatalog } from '@pancha/contracts';
import { deferred } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import type { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import type { CoreConfig } from '../config/env.validation';
import { WorkflowCatalogService } from './workflow-catalog.service';

describe('WorkflowCatalogService shutdown', () => {
  it('onModuleDestroy resolves only after the fetch in flight has written its cache', async () => {
    const written = deferred<void>();
    const events: string[] = [];
    const dataSource = {
      query: async (sql: string) => {
        if (!sql.startsWith('INSERT')) return [];
        events.push('cache write started');
        await written.promise;
        events.push('cache write done');
        return [];
      },
    } as unknown as DataSource;
    const catalog: WorkflowCatalog = { revision: 'r1', workflows: [] };
    const executor = { catalog: async () => ({ catalog, etag: 'e1' }) } as unknown as WorkflowExecutorClient;
    const service = new WorkflowCatalogService(executor, dataSource, { WORKFLOW_CATALOG_REFRESH_MS: 60_000 } as CoreConfig);

    const fetch = service.refresh();
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['cache write started']);
    const destroyed = service.onModuleDestroy().then(() => events.push('destroyed'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['cache write started']);
    written.resolve();
    await Promise.all([fetch, destroyed]);
    expect(events).toEqual(['cache write started', 'cache write done', 'destroyed']);
  });
});
