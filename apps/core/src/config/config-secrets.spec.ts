import { secretNames, validateEnv } from '@pancha/service-kit';
import { inspect } from 'node:util';
import { CoreConfig } from './env.validation';

describe('CoreConfig secrets', () => {
  it('marks the LLM key (and the shared ones) secret, so a printed config never shows them', () => {
    const config = validateEnv(CoreConfig, { DATABASE_URL: 'postgres://core:pw-core-1@db/core', LLM_API_KEY: 'sk-core-secret-1' });
    expect(secretNames(config)).toEqual(expect.arrayContaining(['LLM_API_KEY', 'DATABASE_URL', 'SERVICE_PRIVATE_KEY', 'REDIS_URL']));
    for (const printed of [JSON.stringify(config), inspect(config)]) {
      expect(printed).not.toContain('sk-core-secret-1');
      expect(printed).not.toContain('pw-core-1');
    }
  });
});
