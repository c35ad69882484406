import { NatsError, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import type { NatsSettings } from './nats.config';

/** JetStream refuses a second message with the same Nats-Msg-Id within this window (the outbox's retries). */
export const DUPLICATE_WINDOW_MS = 120_000;

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/**
 * The stream every hop uses: subjects `<prefix>.>`, file storage, work-queue retention (a message stays until
 * its consumer acknowledges it, like an outbox row until it is delivered; dead letters stay until someone
 * takes them), and a duplicate window so a publish retried by the outbox is stored once.
 */
export function streamConfig(settings: NatsSettings): Partial<StreamConfig> {
  return {
    name: settings.stream,
    subjects: [`${settings.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Workqueue,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
}

/**
 * Creates the stream, or brings an existing one to our subjects and duplicate window. Idempotent, and safe
 * when several services start at once: whoever loses the race to create it finds it there.
 */
export async function ensureStream(jsm: JetStreamManager, settings: NatsSettings): Promise<void> {
  const wanted = streamConfig(settings);
  try {
    const info = await jsm.streams.info(settings.stream);
    const sameSubjects = JSON.stringify(info.config.subjects ?? []) === JSON.stringify(wanted.subjects);
    if (!sameSubjects || info.config.duplicate_window !== wanted.duplicate_window) {
      await jsm.streams.update(settings.stream, { subjects: wanted.subjects, duplicate_window: wanted.duplicate_window });
    }
    return;
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NOT_FOUND) throw error;
  }
  try {
    await jsm.streams.add(wanted);
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NAME_IN_USE) throw error;
  }
}

export function apiErrorCode(error: unknown): number | undefined {
  return error instanceof NatsError ? error.api_error?.err_code : undefined;
}
