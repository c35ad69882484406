import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

// An error of the semantic layer (a step that does not exist), which strict mode would refuse.
const AUDITED = `
name: audited
version: 1.0.0
security: { actions: [task] }
steps:
  - id: a
    action: task
    with: { title: "{{ steps.nope.output }}" }
`;

interface FindingsEvent {
  event_id: string;
  event_type: string;
  file: string;
  workflow?: string;
  version?: string;
  validation_mode: string;
  finding_count: number;
  findings: { code: string; severity: string; line?: number }[];
}

describe('validation mode audit (WORKFLOWS.md: nothing refused; every finding recorded in Bucket)', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'audited.yaml': AUDITED, 'broken.yaml': 'name: broken\nversion: 1.0.0\nsteps: [\n' }, env: { WORKFLOW_VALIDATION_MODE: 'audit' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  const findingsEvents = (): FindingsEvent[] =>
    h.bucket.requests
      .map((r) => (r.body as { event_data?: FindingsEvent }).event_data)
      .filter((e): e is FindingsEvent => e?.event_type === 'workflow.validation_findings');

  it('registers the manifest despite its error, and records each file\'s findings in Bucket with their lines', async () => {
    expect((await h.call('GET', '/api/workflows/audited')).status).toBe(200);
    await eventually(() => expect(findingsEvents().map((e) => e.file).sort()).toEqual(['audited.yaml', 'broken.yaml']));
    const audited = findingsEvents().find((e) => e.file === 'audited.yaml') as FindingsEvent;
    expect(audited).toMatchObject({ workflow: 'audited', version: '1.0.0', validation_mode: 'audit' });
    expect(audited.findings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'unknown_step_reference', severity: 'error', line: 8 })]));
    expect(audited.finding_count).toBe(audited.findings.length);
    // A file that does not parse cannot be registered; what it got wrong is recorded all the same.
    const broken = findingsEvents().find((e) => e.file === 'broken.yaml') as FindingsEvent;
    expect(broken.workflow).toBeUndefined();
    expect(broken.findings.length).toBeGreaterThan(0);
  });

  it('loading the same files again sends the same events (the same ids and content), so Bucket keeps one of each', async () => {
    const first = findingsEvents();
    expect(first).toHaveLength(2);
    expect((await h.call('POST', '/api/workflows/reload')).status).toBe(201);
    await eventually(() => expect(findingsEvents()).toHaveLength(first.length * 2));
    const again = findingsEvents().slice(first.length);
    expect(again.sort((a, b) => a.file.localeCompare(b.file))).toEqual(first.sort((a, b) => a.file.localeCompare(b.file)));
  });

  it('each load counts its findings by layer and severity, and times each layer, on GET /metrics', async () => {
    const scrape = async (): Promise<Map<string, number>> => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      return new Map(
        text
          .split('\n')
          .filter((line) => line.startsWith('pancha_workflow_validation_'))
          .map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]),
      );
    };
    const before = await scrape();
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.status).toBe(201);
    const after = await scrape();
    const delta = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0);
    const report = reload.body as { findings: { layer: string; severity: string }[] };
    const counted = (layer: string, severity: string) => report.findings.filter((f) => f.layer === layer && f.severity === severity).length;
    for (const layer of ['syntax', 'semantic']) {
      expect(counted(layer, 'error')).toBeGreaterThan(0);
      expect(delta(`pancha_workflow_validation_findings_total{layer="${layer}",severity="error"}`)).toBe(counted(layer, 'error'));
    }
    // Every layer is a series from the start; each file is parsed once per load, each parsed manifest runs each layer once.
    expect(after.has('pancha_workflow_validation_findings_total{layer="compatibility",severity="warning"}')).toBe(true);
    expect(delta('pancha_workflow_validation_layer_duration_seconds_count{layer="syntax"}')).toBe(2);
    for (const layer of ['semantic', 'security', 'limits', 'compatibility']) expect(delta(`pancha_workflow_validation_layer_duration_seconds_count{layer="${layer}"}`)).toBe(1);
  });
});
