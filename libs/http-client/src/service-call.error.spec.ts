import { isRetryableStatus, ServiceCallError } from './service-call.error';

describe('isRetryableStatus', () => {
  it.each([undefined, 408, 425, 429, 500, 502, 503, 504])('retries %p', (status) => {
    expect(isRetryableStatus(status)).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 413, 422])('gives up on %p', (status) => {
    expect(isRetryableStatus(status)).toBe(false);
  });
});

describe('ServiceCallError', () => {
  it("exposes the Pancha error body's code", () => {
    expect(new ServiceCallError('x', 409, { code: 'event_id_conflict' }, false).code).toBe('event_id_conflict');
    expect(new ServiceCallError('x', undefined, undefined, true).code).toBeUndefined();
  });
});
