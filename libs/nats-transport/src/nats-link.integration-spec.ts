/**
 * NatsLinkManager against the real NATS of NATS_URL, on a stream of its own (deleted afterwards). Skipped,
 * saying so, when NATS_URL is unset.
 */
import * as nats from 'nats';
import type { ConnectionOptions, NatsConnection } from 'nats';
import { NatsLinkManager } from './nats-link';
import { createTestStream, testNatsUrl, type TestStream } from './testing/test-stream';

// The real connect, wrapped so a test can see each connection the manager makes and act while it is in flight.
jest.mock('nats', () => {
  const actual = jest.requireActual<typeof import('nats')>('nats');
  return { ...actual, connect: jest.fn(actual.connect) };
});
const realConnect = jest.requireActual<typeof import('nats')>('nats').connect;
const connectMock = nats.connect as jest.MockedFunction<typeof nats.connect>;

jest.setTimeout(30000);
const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[nats-transport] NATS_URL is unset: skipping the NatsLinkManager integration tests');
const describeNats = NATS_URL ? describe : describe.skip;

describeNats('NatsLinkManager', () => {
  let stream: TestStream;
  const made: NatsConnection[] = [];

  beforeAll(async () => {
    stream = await createTestStream(NATS_URL as string, 'LINK');
  });

  afterEach(async () => {
    connectMock.mockReset();
    connectMock.mockImplementation(realConnect);
    await Promise.all(made.splice(0).map((nc) => (nc.isClosed() ? undefined : nc.close())));
  });

  afterAll(async () => {
    await stream?.delete();
  });

  it('connects and close() closes the connection', async () => {
    connectMock.mockImplementation(async (opts?: ConnectionOptions) => {
      const nc = await realConnect(opts);
      made.push(nc);
      return nc;
    });
    const manager = new NatsLinkManager(stream.settings, 'link-test');

    const link = await manager.get();
    expect(link.nc.isClosed()).toBe(false);
    await manager.close();

    expect(made).toHaveLength(1);
    expect(link.nc.isClosed()).toBe(true);
  });

  it('closes a connection that completes after close() was called, and get() rejects', async () => {
    const manager = new NatsLinkManager(stream.settings, 'link-test');
    // close() lands while the connect is in flight: the connection succeeds, but nobody asked for it any more.
    connectMock.mockImplementation(async (opts?: ConnectionOptions) => {
      const nc = await realConnect(opts);
      made.push(nc);
      await manager.close();
      return nc;
    });

    await expect(manager.get()).rejects.toThrow('NATS link closed');

    expect(made).toHaveLength(1);
    expect(made[0].isClosed()).toBe(true);
    expect(manager.connected).toBeUndefined();
  });

  it('closes a connection that completes after stopConnecting() was called', async () => {
    const manager = new NatsLinkManager(stream.settings, 'link-test');
    connectMock.mockImplementation(async (opts?: ConnectionOptions) => {
      const nc = await realConnect(opts);
      made.push(nc);
      manager.stopConnecting();
      return nc;
    });

    await expect(manager.get()).rejects.toThrow('NATS link closed');

    expect(made).toHaveLength(1);
    expect(made[0].isClosed()).toBe(true);
  });
});
