import { testConfig } from './test-config';

describe('WorkflowExecutorConfig', () => {
  it('has the documented defaults', () => {
    const config = testConfig();
    expect(config).toMatchObject({
      ADAPTER_TIMEOUT_MS: 10_000,
      WORKFLOW_EVENTS_ENABLED: true,
      WORKFLOW_BEHAVIORAL_TRACKING: true,
      BUCKET_URL: 'http://127.0.0.1:8001',
      KARMA_URL: 'http://127.0.0.1:8000',
      WHATSAPP_API_BASE_URL: 'https://graph.facebook.com/v21.0',
    });
    expect(config.SMTP_URL).toBeUndefined();
    expect(config.AI_BASE_URL).toBeUndefined();
    expect(config.executionLeaseMs).toBe(20_000);
    expect(config.whatsappConfigured).toBe(false);
  });

  it('parses booleans and numbers from strings', () => {
    const config = testConfig({ WORKFLOW_EVENTS_ENABLED: 'false', WORKFLOW_BEHAVIORAL_TRACKING: '0', ADAPTER_TIMEOUT_MS: '250' });
    expect(config.WORKFLOW_EVENTS_ENABLED).toBe(false);
    expect(config.WORKFLOW_BEHAVIORAL_TRACKING).toBe(false);
    expect(config.executionLeaseMs).toBe(500);
  });

  it.each([
    [{ WORKFLOW_EVENTS_ENABLED: 'maybe' }, 'WORKFLOW_EVENTS_ENABLED'],
    [{ BUCKET_URL: 'not a url' }, 'BUCKET_URL'],
    [{ SMTP_URL: 'http://mail.example.com' }, 'SMTP_URL'],
    [{ ADAPTER_TIMEOUT_MS: '0' }, 'ADAPTER_TIMEOUT_MS'],
    [{ AI_BASE_URL: 'http://127.0.0.1:9999/v1' }, 'AI_MODEL'],
    [{ WHATSAPP_PHONE_NUMBER_ID: '123' }, 'WHATSAPP_ACCESS_TOKEN'],
    [{ WHATSAPP_ACCESS_TOKEN: 'secret' }, 'WHATSAPP_PHONE_NUMBER_ID'],
  ])('refuses %j naming %s', (env, variable) => {
    expect(() => testConfig(env)).toThrow(variable);
  });

  it('accepts smtp and smtps URLs with credentials', () => {
    expect(testConfig({ SMTP_URL: 'smtp://user:pass@127.0.0.1:2525' }).SMTP_URL).toBe('smtp://user:pass@127.0.0.1:2525');
    expect(testConfig({ SMTP_URL: 'smtps://mail.example.com:465' }).SMTP_URL).toBe('smtps://mail.example.com:465');
  });
});
