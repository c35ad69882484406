import { randomBytes } from 'node:crypto';
import { AckPolicy, connect, type JsMsg, type NatsConnection } from 'nats';
import { deadLetterSubject, natsSettings, type NatsSettings } from '../nats.config';
import { ensureStream } from '../jetstream-stream';

/** A throw-away stream for one test run: its own name and subject prefix, deleted by `delete()`. */
export interface TestStream {
  settings: NatsSettings;
  /** What to put in an app's environment to use this stream. */
  env: { NATS_URL: string; NATS_STREAM: string };
  nc: NatsConnection;
  /**
   * Messages currently stored (work-queue retention: acknowledged ones are gone); with `service`, only those on its
   * subjects (a service under test may itself publish to others that no consumer reads in the test).
   */
  storedCount(service?: string): Promise<number>;
  /** Every dead letter of `service` so far (read with a durable consumer of the dead-letter subject). */
  deadLetters(service: string): Promise<JsMsg[]>;
  delete(): Promise<void>;
}

/** NATS_URL of the test machine, or undefined (the suites that need it skip, saying why). */
export function testNatsUrl(): string | undefined {
  return process.env.NATS_URL?.trim() || undefined;
}

export async function createTestStream(url: string, label = 'T'): Promise<TestStream> {
  const stream = `${label}_${randomBytes(4).toString('hex')}`.toUpperCase();
  const settings = natsSettings({ NATS_URL: url, NATS_STREAM: stream });
  if (!settings) throw new Error('NATS_URL is required');
  const nc = await connect({ servers: settings.servers, name: `test-${stream}` });
  const jsm = await nc.jetstreamManager();
  await ensureStream(jsm, settings);
  const js = nc.jetstream();
  const seen = new Map<string, JsMsg[]>();
  return {
    settings,
    env: { NATS_URL: url, NATS_STREAM: stream },
    nc,
    async storedCount(service?: string) {
      if (service === undefined) return (await jsm.streams.info(stream)).state.messages;
      const info = await jsm.streams.info(stream, { subjects_filter: `${settings.subjectPrefix}.${service}.>` });
      return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
    },
    async deadLetters(service) {
      const durable = `dlq-${service}`;
      if (!seen.has(service)) {
        await jsm.consumers.add(stream, {
          durable_name: durable,
          filter_subject: deadLetterSubject(settings, service),
          ack_policy: AckPolicy.Explicit,
        });
        seen.set(service, []);
      }
      const list = seen.get(service) ?? [];
      const consumer = await js.consumers.get(stream, durable);
      for (;;) {
        const msg = await consumer.next({ expires: 1000 });
        if (!msg) break;
        msg.ack();
        list.push(msg);
      }
      return list;
    },
    async delete() {
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    },
  };
}
