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

describe('WorkflowCatalogService.versionView', () => {
  const dataSource = { query: async () => [] } as unknown as DataSource;
  const config = { WORKFLOW_CATALOG_REFRESH_MS: 60_000 } as CoreConfig;
  const version = (v: string, present: boolean, retired = false) => ({ version: v, present, deprecated: false, retired, manifest: { name: 't-ver', version: v } });

  it('says whether the version is in the workflows directory, as the list of versions does: one gone is present: false, not retired', async () => {
    const catalog: WorkflowCatalog = { revision: 'r1', workflows: [{ name: 't-ver', enabled: true, default_version: '1.1.0', versions: [version('1.0.0', false), version('1.1.0', true)] }] };
    const executor = { catalog: jest.fn(async () => ({ catalog, etag: 'e1' })) };
    const service = new WorkflowCatalogService(executor as unknown as WorkflowExecutorClient, dataSource, config);
    await service.refresh();

    const gone = await service.versionView('t-ver', { name: 't-ver', version: '1.0.0', retired: false });
    expect(gone).toEqual({ name: 't-ver', version: '1.0.0', retired: false, present: false });
    // A start on it is refused: what the view says is what a start meets.
    expect(service.choose('t-ver', '1.0.0')).toMatchObject({ ok: false, reason: 'version_retired' });
    expect(await service.versionView('t-ver', { name: 't-ver', version: '1.1.0', retired: false })).toMatchObject({ present: true });
    expect(executor.catalog).toHaveBeenCalledTimes(1);
  });

  it('fetches the catalog again for a version the mirror does not hold yet, and leaves present out only if it still has none', async () => {
    let catalog: WorkflowCatalog = { revision: 'r1', workflows: [{ name: 't-ver', enabled: true, default_version: '1.0.0', versions: [version('1.0.0', true)] }] };
    const executor = { catalog: jest.fn(async () => ({ catalog, etag: catalog.revision })) };
    const service = new WorkflowCatalogService(executor as unknown as WorkflowExecutorClient, dataSource, config);
    await service.refresh();
    // Registered by the executor since the mirror's last fetch.
    catalog = { revision: 'r2', workflows: [{ name: 't-ver', enabled: true, default_version: '1.2.0', versions: [version('1.0.0', true), version('1.2.0', true)] }] };
    expect(await service.versionView('t-ver', { name: 't-ver', version: '1.2.0' })).toEqual({ name: 't-ver', version: '1.2.0', present: true });
    expect(executor.catalog).toHaveBeenCalledTimes(2);
    expect(await service.versionView('t-ver', { name: 't-ver', version: '9.9.9' })).toEqual({ name: 't-ver', version: '9.9.9' });
  });
});
