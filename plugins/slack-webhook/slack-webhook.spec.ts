/**
 * The example plugin as the executor runs it: loaded and executed in a real worker (PluginHost), posting to a local
 * stand-in of Slack's incoming webhook.
 */
import path from 'node:path';
import { type PluginEntry, PluginHost } from '@pancha/plugin-sdk';
import { StandInServer } from '@pancha/testing';

jest.setTimeout(30_000);

let answer: { status: number; body: unknown } = { status: 200, body: 'ok' };
const slack = new StandInServer(() => answer);
const host = new PluginHost({ forbiddenPaths: [], maxMemoryMb: 64 });
const plugin: PluginEntry = { source: 'directory', entry: path.join(__dirname, 'index.js'), label: 'slack-webhook/index.js' };
const post = (input: Record<string, unknown>, secrets: Record<string, string> = { SLACK_WEBHOOK_URL: `${slack.url}/services/T0/B0/xyz` }) =>
  host.execute(plugin, { input, idempotencyKey: 'run-9:notify', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', secrets, signal: new AbortController().signal, log: () => undefined });

beforeAll(() => slack.start());
afterAll(async () => {
  await host.close();
  await slack.close();
});
beforeEach(() => {
  answer = { status: 200, body: 'ok' };
});

describe('slack-webhook plugin', () => {
  it('declares itself with schemas, retryable codes and its one secret', async () => {
    const described = await host.describe(plugin);
    expect(described).toMatchObject({
      ok: true,
      declaration: { name: 'slack-webhook', version: '1.0.0', secrets: ['SLACK_WEBHOOK_URL'], retryableCodes: ['slack_rate_limited', 'slack_unavailable', 'slack_unreachable'] },
    });
  });

  it('posts the message as JSON with the idempotency key and traceparent', async () => {
    const result = await post({ text: 'Disk *full* on db-1', thread_ts: '1700000000.000100' });
    expect(result).toEqual({ ok: true, output: { status: 200, delivered: true, response: expect.stringContaining('ok') } });
    const req = slack.requests.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', path: '/services/T0/B0/xyz', body: { text: 'Disk *full* on db-1', thread_ts: '1700000000.000100' } });
    expect(req.headers).toMatchObject({ 'idempotency-key': 'run-9:notify', traceparent: expect.stringMatching(/^00-0af7651916cd43dd8448eb211c80319c-/) });
  });

  it('a 429 or 5xx is retryable; a 4xx is terminal and says what Slack refused', async () => {
    answer = { status: 429, body: 'rate_limited' };
    expect(await post({ text: 'x' })).toEqual({ ok: false, error: expect.objectContaining({ code: 'slack_rate_limited', retryable: true }) });
    answer = { status: 503, body: '' };
    expect(await post({ text: 'x' })).toEqual({ ok: false, error: expect.objectContaining({ code: 'slack_unavailable', retryable: true }) });
    answer = { status: 400, body: 'invalid_payload' };
    expect(await post({ text: 'x' })).toEqual({ ok: false, error: { code: 'slack_rejected', message: expect.stringContaining('invalid_payload'), retryable: false } });
  });

  it('without the secret it fails terminally, sending nothing', async () => {
    const before = slack.requests.length;
    expect(await post({ text: 'x' }, {})).toEqual({ ok: false, error: expect.objectContaining({ code: 'slack_webhook_not_configured', retryable: false }) });
    expect(slack.requests.length).toBe(before);
  });

  it('an unreachable webhook is retryable', async () => {
    expect(await post({ text: 'x' }, { SLACK_WEBHOOK_URL: 'http://127.0.0.1:1/hook' })).toEqual({ ok: false, error: expect.objectContaining({ code: 'slack_unreachable', retryable: true }) });
  });
});
