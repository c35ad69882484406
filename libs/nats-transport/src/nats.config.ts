import { IsOptional, ValidateBy, buildMessage, type ValidationOptions } from 'class-validator';

/** Stream used when NATS_STREAM is unset; its subjects are `pancha.>`. */
export const DEFAULT_NATS_STREAM = 'PANCHA';

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SERVER_PROTOCOLS = new Set(['nats:', 'tls:']);

/** Where the JetStream transport connects and which stream it uses. Built by `natsSettings`. */
export interface NatsSettings {
  /** One or more server URLs (NATS_URL may list several, comma-separated). */
  servers: string[];
  stream: string;
  /** First subject token of every message: the stream name in lower case (`PANCHA` → `pancha.bucket.core-event`). */
  subjectPrefix: string;
}

/** The variables every app that speaks JetStream reads (declare them on the app's config class). */
export interface NatsEnv {
  NATS_URL?: string;
  NATS_STREAM?: string;
}

/** `nats://host:port` or `tls://host:port`, several separated by commas. */
export function IsNatsUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isNatsUrl',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseServers(value) !== undefined,
        defaultMessage: buildMessage(
          (each) => `${each}$property must be nats://host:port or tls://host:port (several separated by commas)`,
          options,
        ),
      },
    },
    options,
  );
}

/** A JetStream stream name: letters, digits, `_` and `-` (no `.`, `*`, `>` or spaces), at most 64. */
export function IsNatsStreamName(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isNatsStreamName',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && STREAM_NAME.test(value),
        defaultMessage: buildMessage((each) => `${each}$property must be 1-64 letters, digits, _ or -`, options),
      },
    },
    options,
  );
}

/** Ready-made config fields; apps copy the two decorated properties (class-validator has no mixins). */
export class NatsConfig implements NatsEnv {
  @IsOptional() @IsNatsUrl()
  NATS_URL?: string;

  @IsOptional() @IsNatsStreamName()
  NATS_STREAM = DEFAULT_NATS_STREAM;
}

/** The transport settings, or undefined when NATS_URL is unset (the services then talk HTTP). */
export function natsSettings(env: NatsEnv): NatsSettings | undefined {
  const url = env.NATS_URL?.trim();
  if (!url) return undefined;
  const servers = parseServers(url);
  if (!servers) throw new Error(`Invalid configuration: NATS_URL must be nats://host:port or tls://host:port, got ${url}`);
  const stream = env.NATS_STREAM?.trim() || DEFAULT_NATS_STREAM;
  if (!STREAM_NAME.test(stream)) throw new Error(`Invalid configuration: NATS_STREAM must be 1-64 letters, digits, _ or -, got ${stream}`);
  return { servers, stream, subjectPrefix: stream.toLowerCase() };
}

/** `pancha.bucket.workflow-event` for topic `bucket.workflow-event`. */
export function subjectFor(settings: Pick<NatsSettings, 'subjectPrefix'>, topic: string): string {
  return `${settings.subjectPrefix}.${topic}`;
}

/** Where a service's rejected messages go: `pancha.dlq.<service>`, a subject of the same stream. */
export function deadLetterSubject(settings: Pick<NatsSettings, 'subjectPrefix'>, service: string): string {
  return `${settings.subjectPrefix}.dlq.${service}`;
}

function parseServers(value: string): string[] | undefined {
  const servers = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) return undefined;
  for (const server of servers) {
    try {
      const url = new URL(server);
      if (!SERVER_PROTOCOLS.has(url.protocol) || !url.hostname) return undefined;
    } catch {
      return undefined;
    }
  }
  return servers;
}
