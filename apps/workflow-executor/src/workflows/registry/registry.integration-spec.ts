/**
 * The registry on PostgreSQL: name@version registers once (recorded in Bucket with its content hash), is
 * immutable (other content under the same version is refused and the registered one keeps serving), and an
 * invalid manifest is refused with findings that name layer, code, file and line.
 */
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const V1 = `
name: greet
version: 1.0.0
inputs: { type: object, required: [who], properties: { who: { type: string } } }
security: { actions: [task] }
steps:
  - { id: hello, action: task, with: { title: "hello {{ inputs.who }}" } }
`;

describe('workflow registry', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: { 'greet.yaml': V1 } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('registers each name@version once and records it in Bucket with its content hash', async () => {
    const [row] = await h.dataSource.query(`SELECT content_hash, file FROM workflow_definitions WHERE name = 'greet' AND version = '1.0.0'`);
    expect(row).toMatchObject({ content_hash: expect.stringMatching(/^[0-9a-f]{64}$/), file: 'greet.yaml' });
    const again = await h.call('POST', '/api/workflows/reload');
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ registered: [], unchanged: 1 });
    const registered = h.bucket.requests
      .map((r) => (r.body as { event_data?: Record<string, unknown> }).event_data)
      .filter((e) => e?.event_type === 'workflow.registered' && e.workflow === 'greet');
    expect(registered).toEqual([expect.objectContaining({ version: '1.0.0', content_hash: row.content_hash })]);
  });

  it('refuses other content under a registered version; the registered one keeps serving', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('hello {{', 'HELLO {{'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body.refused).toEqual([
      expect.objectContaining({ file: 'greet.yaml', findings: expect.arrayContaining([expect.objectContaining({ code: 'version_immutable', layer: 'compatibility' })]) }),
    ]);
    const definition = await h.call('GET', '/api/workflows/greet/versions/1.0.0');
    expect(JSON.stringify(definition.body)).toContain('hello {{ inputs.who }}');
    h.writeWorkflow('greet.yaml', V1);
  });

  it('a new version registers beside the old one and becomes the default; both stay startable by version', async () => {
    h.writeWorkflow('greet.yaml', V1.replace('version: 1.0.0', 'version: 1.1.0').replace('hello {{', 'hi {{'));
    const reload = await h.call('POST', '/api/workflows/reload');
    expect(reload.body.registered).toEqual([expect.objectContaining({ workflow: 'greet', version: '1.1.0' })]);
    const show = await h.call('GET', '/api/workflows/greet');
    expect(show.body).toMatchObject({ default_version: '1.1.0' });
    expect(show.body.versions.map((v: { version: string; present: boolean }) => [v.version, v.present])).toEqual([
      ['1.1.0', true],
      ['1.0.0', false],
    ]);
    const old = await h.startRun('greet', '1.0.0', { who: 'old' });
    expect((await h.run(old)).version).toBe('1.0.0');
  });

  it('an invalid manifest is refused with findings naming layer, code, file and line', async () => {
    h.writeWorkflow('broken.yaml', 'name: broken\nversion: 1.0.0\nsecurity: { actions: [task] }\nsteps:\n  - id: a\n    action: nope\n');
    const reload = await h.call('POST', '/api/workflows/reload');
    const refused = (reload.body.refused as { file: string; findings: { code: string; layer: string; line: number; file: string }[] }[]).find((r) => r.file === 'broken.yaml');
    expect(refused?.findings).toEqual(expect.arrayContaining([expect.objectContaining({ layer: 'security', file: 'broken.yaml', line: 6 })]));
    const show = await h.call('GET', '/api/workflows/broken');
    expect(show.status).toBe(404);
  });
});
