import { secretNames } from '@pancha/service-kit';
import { inspect } from 'node:util';
import { testConfig } from './test-config';

describe('WorkflowExecutorConfig secrets', () => {
  it('marks the provider credentials secret, so a printed config never shows them', () => {
    const config = testConfig({
      SMTP_URL: 'smtp://mailer:smtp-pw-77@mail.example:587',
      WHATSAPP_PHONE_NUMBER_ID: '123',
      WHATSAPP_ACCESS_TOKEN: 'wa-secret-77',
      AI_BASE_URL: 'http://ai.example/v1',
      AI_API_KEY: 'sk-ai-secret-77',
      AI_MODEL: 'm',
    });
    expect(secretNames(config)).toEqual(expect.arrayContaining(['SMTP_URL', 'WHATSAPP_ACCESS_TOKEN', 'AI_API_KEY']));
    expect(config.AI_API_KEY).toBe('sk-ai-secret-77');
    for (const printed of [JSON.stringify(config), inspect(config)]) {
      for (const secret of ['smtp-pw-77', 'wa-secret-77', 'sk-ai-secret-77']) expect(printed).not.toContain(secret);
    }
  });
});
