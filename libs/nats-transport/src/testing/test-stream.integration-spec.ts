import { createTestStream, testNatsUrl, type TestStream } from './test-stream';

const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[nats-transport] NATS_URL is unset: skipping the test stream tests');
const describeNats = NATS_URL ? describe : describe.skip;

describeNats('the test stream', () => {
  let stream: TestStream;

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string, 'TSTREAM');
  });

  afterAll(async () => {
    await stream?.delete();
  });

  it('counts what is stored, in all or on one service’s subjects', async () => {
    const js = stream.nc.jetstream();
    await js.publish(`${stream.settings.subjectPrefix}.core.some-topic`, new Uint8Array([1]));
    await js.publish(`${stream.settings.subjectPrefix}.core.other-topic`, new Uint8Array([2]));
    await js.publish(`${stream.settings.subjectPrefix}.workflow-executor.run-start`, new Uint8Array([3]));
    expect(await stream.storedCount()).toBe(3);
    expect(await stream.storedCount('core')).toBe(2);
    expect(await stream.storedCount('workflow-executor')).toBe(1);
    expect(await stream.storedCount('karma')).toBe(0);
  });
});
