import { EXECUTOR_RUN_STARTS_ROUTE, type WorkflowCatalog } from '@pancha/contracts';
import { StandInServer } from '@pancha/testing';
import type { WorkflowManifest } from '@pancha/workflow-manifest';

/** The catalog entry of a workflow whose only version is `manifest`: enabled, its default, in the workflows directory. */
export function catalogEntry(manifest: WorkflowManifest): WorkflowCatalog['workflows'][number] {
  return {
    name: manifest.name,
    enabled: true,
    default_version: manifest.version,
    versions: [{ version: manifest.version, present: true, deprecated: false, retired: false, manifest: manifest as unknown as Record<string, unknown> }],
  };
}

/**
 * A stand-in executor for Core's event and run specs: its catalog holds `manifests` (each its workflow's only
 * version), and it takes every run start, alone (`POST /api/runs`) or in a batch, with a 202.
 */
export function catalogExecutor(manifests: readonly WorkflowManifest[]): StandInServer {
  const catalog: WorkflowCatalog = { revision: 'r1', workflows: manifests.map(catalogEntry) };
  const executor = new StandInServer((req) => {
    if (req.path === '/api/workflows/catalog') return { status: 200, body: catalog };
    if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
    return { status: 404, body: { code: 'not_found' } };
  });
  return executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
}
