// @ts-check
'use strict';
/**
 * slack-webhook: posts a message to a Slack incoming webhook (or anything that speaks its format: Mattermost,
 * Rocket.Chat, Discord's /slack endpoint). The webhook URL is a secret (SLACK_WEBHOOK_URL): it carries its own
 * credential, so it never appears in a manifest, a stored step input or a log.
 */
const { definePlugin, PluginError } = require('@pancha/plugin-sdk');

const MAX_TEXT = 40_000; // Slack truncates beyond this; refuse instead of silently cutting an alert.

module.exports = definePlugin({
  name: 'slack-webhook',
  version: '1.0.0',
  description: 'Posts a message (text, optional Block Kit blocks) to a Slack-compatible incoming webhook',
  secrets: ['SLACK_WEBHOOK_URL'],
  input: {
    type: 'object',
    required: ['text'],
    additionalProperties: false,
    properties: {
      text: { type: 'string', minLength: 1, maxLength: MAX_TEXT, description: 'The message (mrkdwn); the notification text when blocks are given' },
      blocks: { type: 'array', items: { type: 'object' }, maxItems: 50, description: 'Block Kit blocks' },
      username: { type: 'string', description: 'Display name override (legacy webhooks, Mattermost)' },
      icon_emoji: { type: 'string', pattern: '^:[a-z0-9_+-]+:$' },
      thread_ts: { type: 'string', description: 'Reply in this thread' },
    },
  },
  output: {
    type: 'object',
    required: ['status', 'delivered'],
    properties: { status: { type: 'integer' }, delivered: { const: true }, response: { type: 'string' } },
  },
  // Slack answers 429 (rate limited) and 5xx when a repeat may succeed; a 4xx names a problem a repeat keeps.
  retryable: ['slack_rate_limited', 'slack_unavailable', 'slack_unreachable'],

  async execute(ctx, input) {
    const url = ctx.secrets.SLACK_WEBHOOK_URL;
    if (!url) throw new PluginError('slack_webhook_not_configured', 'set the SLACK_WEBHOOK_URL secret (WORKFLOW_SECRET_SLACK_WEBHOOK_URL)');
    let target;
    try {
      target = new URL(url);
    } catch {
      throw new PluginError('slack_webhook_not_configured', 'SLACK_WEBHOOK_URL is not a URL');
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new PluginError('slack_webhook_not_configured', 'SLACK_WEBHOOK_URL must be http(s)');

    const body = { text: input.text };
    for (const key of ['blocks', 'username', 'icon_emoji', 'thread_ts']) if (input[key] !== undefined) body[key] = input[key];
    /** @type {Record<string, string>} */
    const headers = { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey };
    if (ctx.traceparent) headers.traceparent = ctx.traceparent;

    let response;
    try {
      response = await fetch(target, { method: 'POST', headers, body: JSON.stringify(body), redirect: 'error', signal: ctx.signal });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const cause = /** @type {{ cause?: { code?: string } }} */ (error).cause;
      throw new PluginError('slack_unreachable', `${target.host} unreachable: ${cause?.code ?? /** @type {Error} */ (error).message}`);
    }
    const text = (await response.text()).slice(0, 2_000);
    if (response.ok) {
      ctx.logger.info('posted to the webhook', { host: target.host, status: response.status });
      return { status: response.status, delivered: true, response: text };
    }
    if (response.status === 429) throw new PluginError('slack_rate_limited', `rate limited (retry-after: ${response.headers.get('retry-after') ?? '?'})`);
    if (response.status >= 500) throw new PluginError('slack_unavailable', `${target.host} answered ${response.status}`);
    // Slack's 4xx bodies are codes such as invalid_payload, no_text, channel_is_archived: say which.
    throw new PluginError('slack_rejected', `${target.host} answered ${response.status}: ${text || 'no reason given'}`);
  },
});
