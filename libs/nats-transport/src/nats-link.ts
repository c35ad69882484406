import { Logger } from '@nestjs/common';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { ensureStream } from './jetstream-stream';
import type { NatsSettings } from './nats.config';

export interface NatsLink {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

/**
 * One NATS connection with the stream ensured, established in the background and retried until it
 * succeeds or `close()` is called: a service with NATS_URL set starts and serves HTTP while NATS is down.
 * After the first connection the nats client itself reconnects for ever.
 */
export class NatsLinkManager {
  private readonly logger: Logger;
  private link?: Promise<NatsLink>;
  private connection?: NatsConnection;
  private closed = false;
  private wakeUp?: () => void;

  constructor(
    private readonly settings: NatsSettings,
    private readonly name: string,
  ) {
    this.logger = new Logger(`NatsLink(${name})`);
  }

  /** Resolves once connected (possibly never while NATS is down: callers bound the wait). */
  get(): Promise<NatsLink> {
    if (!this.link) {
      this.link = this.establish();
      // Nobody may be waiting when close() ends the attempts.
      this.link.catch(() => undefined);
    }
    return this.link;
  }

  get connected(): NatsConnection | undefined {
    return this.connection;
  }

  /** Ends the connection attempts (a pending `get()` rejects) but keeps an established connection open. */
  stopConnecting(): void {
    this.closed = true;
    this.wakeUp?.();
  }

  async close(): Promise<void> {
    this.stopConnecting();
    const nc = this.connection;
    this.connection = undefined;
    if (nc && !nc.isClosed()) {
      // drain: in-flight publishes and acks complete before the socket closes.
      await nc.drain().catch(() => nc.close());
    }
  }

  private async establish(): Promise<NatsLink> {
    for (let attempt = 0; !this.closed; attempt++) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({
          servers: this.settings.servers,
          name: this.name,
          timeout: 2000,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
        });
        const jsm = await nc.jetstreamManager({ timeout: 5000 });
        await ensureStream(jsm, this.settings);
        if (this.closed) {
          // close() came while this attempt was in flight: nobody holds this connection, and an open one keeps
          // the process alive.
          await nc.close().catch(() => undefined);
          break;
        }
        this.connection = nc;
        this.watch(nc);
        this.logger.log(`connected to ${nc.getServer()}, stream ${this.settings.stream}`);
        return { nc, js: nc.jetstream({ timeout: 5000 }), jsm };
      } catch (error) {
        await nc?.close().catch(() => undefined);
        // Once, then every 20 failures: a long outage must not flood the log.
        if (attempt % 20 === 0) {
          this.logger.warn(`NATS ${this.settings.servers.join(',')} not usable yet (${(error as Error).message}); retrying`);
        }
        await this.pause(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt, 4)));
      }
    }
    throw new Error('NATS link closed');
  }

  private watch(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.logger.warn(`disconnected from NATS (${String(status.data)}); reconnecting`);
        if (status.type === 'reconnect') this.logger.log(`reconnected to NATS (${String(status.data)})`);
      }
    })().catch(() => undefined);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
