import { MetricName } from '@pancha/contracts';
import { metricsRegistry } from '@pancha/service-kit';
import { recordVerification } from './bucket-metrics';

describe('Bucket verification metrics', () => {
  const lastOk = async () => (await metricsRegistry.metrics()).split('\n').filter((l) => l.startsWith(MetricName.BucketLastVerificationOk));

  it('has no verification verdict before the first verification, so a fresh Bucket does not look broken', async () => {
    expect(await lastOk()).toEqual([]);
  });

  it('reports the latest verdict: 1 intact, 0 a fault; an error that could not finish leaves the verdict as it was', async () => {
    recordVerification(false, true);
    expect(await lastOk()).toEqual([`${MetricName.BucketLastVerificationOk} 1`]);
    recordVerification(true, false);
    expect(await lastOk()).toEqual([`${MetricName.BucketLastVerificationOk} 0`]);
    recordVerification(false, undefined);
    expect(await lastOk()).toEqual([`${MetricName.BucketLastVerificationOk} 0`]);
  });
});
