import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { MetricName } from '@pancha/contracts';
import { metricsRegistry } from '@pancha/service-kit';
import { Counter, Gauge } from 'prom-client';
import { LedgerReader } from './ledger-reader';

/**
 * Bucket's Prometheus metrics (docs/metrics.md): the chain's size (its head seq, read when scraped, at most once
 * a second), entries appended (rate() of it is appends/s), and the outcome and time of the latest verification.
 */
export const bucketMetrics = {
  appends: new Counter({
    name: MetricName.BucketAppends,
    help: 'Entries appended to the audit chain (replays of recorded events not counted)',
    registers: [metricsRegistry],
  }),
  verifications: new Counter({
    name: MetricName.BucketVerifications,
    help: 'Chain verifications finished, by result (ok, failed, error) and mode (incremental, full)',
    labelNames: ['result', 'mode'],
    registers: [metricsRegistry],
  }),
  lastVerification: new Gauge({
    name: MetricName.BucketLastVerification,
    help: 'Unix time the latest chain verification in this process finished (0: none yet)',
    registers: [metricsRegistry],
  }),
};

/**
 * Registered at the first verification's end, so the series is absent before it: prom-client exports an unlabelled
 * gauge that was never set as 0, which a fresh Bucket would have reported as "the chain is broken" (and the
 * PanchaAuditVerificationFailed alert fired on every healthy stack until someone verified).
 */
let lastVerificationOk: Gauge | undefined;
for (const result of ['ok', 'failed', 'error']) for (const mode of ['incremental', 'full']) bucketMetrics.verifications.inc({ result, mode }, 0);
bucketMetrics.lastVerification.set(0);

/** Called when a verification finishes: `ok` undefined means it could not run to the end (an error). */
export function recordVerification(full: boolean, ok: boolean | undefined): void {
  bucketMetrics.verifications.inc({ result: ok === undefined ? 'error' : ok ? 'ok' : 'failed', mode: full ? 'full' : 'incremental' });
  if (ok === undefined) return;
  bucketMetrics.lastVerification.set(Date.now() / 1000);
  lastVerificationOk ??= new Gauge({
    name: MetricName.BucketLastVerificationOk,
    help: '1 when the latest chain verification found the chain intact, 0 when it found a fault; absent before the first',
    registers: [metricsRegistry],
  });
  lastVerificationOk.set(ok ? 1 : 0);
}

let headReader: (() => Promise<number>) | undefined;
let cached: { at: number; size: Promise<number> } | undefined;

new Gauge({
  name: MetricName.BucketChainSize,
  help: 'Entries in the audit chain (the head seq)',
  registers: [metricsRegistry],
  async collect() {
    if (!headReader) return;
    if (!cached || Date.now() - cached.at >= 1000) cached = { at: Date.now(), size: headReader().catch(() => NaN) };
    const size = await cached.size;
    if (Number.isFinite(size)) this.set(size);
  },
});

@Injectable()
export class BucketMetrics implements OnModuleInit, OnModuleDestroy {
  private readonly read = async () => (await this.reader.head()).size;

  constructor(private readonly reader: LedgerReader) {}

  onModuleInit(): void {
    headReader = this.read;
    cached = undefined;
  }

  onModuleDestroy(): void {
    if (headReader === this.read) headReader = undefined;
  }
}
