/**
 * A relay in a process of its own, for the crash-recovery test: the parent kills it with SIGKILL mid-delivery.
 * Env: DATABASE_URL; RELAY_OPTIONS (JSON OutboxOptions overrides). Topic `t`: a payload `{ hang: true }` is
 * announced on stdout (`started <message_key>`) and never finishes; any other is recorded in `effects`.
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { OutboxRelay } from '../outbox-relay.service';
import { PgOutboxStore } from '../pg-outbox.store';
import { openOutboxDataSource } from './outbox-test-kit';

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const dataSource = await openOutboxDataSource(process.env.DATABASE_URL as string);
  const relay = new OutboxRelay(
    new PgOutboxStore(dataSource),
    [
      {
        topic: 't',
        async deliver(message) {
          if ((message.payload as { hang?: boolean }).hang) {
            process.stdout.write(`started ${message.messageKey}\n`);
            await new Promise(() => undefined);
          }
          await dataSource.query(`INSERT INTO effects (message_key, relay) VALUES ($1, 'child')`, [message.messageKey]);
        },
      },
    ],
    JSON.parse(process.env.RELAY_OPTIONS ?? '{}'),
  );
  relay.start();
  // The relay's own timers do not hold a process open; this one lives until it is killed.
  setInterval(() => undefined, 60_000);
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`relay process failed: ${String(error)}\n`);
  process.exit(1);
});
