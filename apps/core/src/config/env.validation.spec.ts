import { validateEnv } from '@pancha/service-kit';
import { CoreConfig } from './env.validation';

const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/core' };

describe('CoreConfig', () => {
  it('has the documented defaults', () => {
    expect(validateEnv(CoreConfig, base)).toMatchObject({
      ENABLE_WORKFLOW_EXECUTION: true,
      WORKFLOW_EXECUTOR_URL: 'http://127.0.0.1:8003',
      WORKFLOW_TIMEOUT: 2,
      BUCKET_URL: 'http://127.0.0.1:8001',
      KARMA_URL: 'http://127.0.0.1:8000',
      CORE_AGENT: 'rule',
      LLM_MODEL: 'gpt-4o-mini',
      LLM_TIMEOUT_MS: 5000,
    });
  });

  it('parses booleans and fractional timeouts', () => {
    expect(validateEnv(CoreConfig, { ...base, ENABLE_WORKFLOW_EXECUTION: 'false', WORKFLOW_TIMEOUT: '0.5', CORE_AGENT: 'llm' })).toMatchObject({
      ENABLE_WORKFLOW_EXECUTION: false,
      WORKFLOW_TIMEOUT: 0.5,
      CORE_AGENT: 'llm',
    });
  });

  it.each([
    [{ WORKFLOW_TIMEOUT: '0' }, 'WORKFLOW_TIMEOUT must be a positive number of seconds'],
    [{ WORKFLOW_TIMEOUT: 'soon' }, 'WORKFLOW_TIMEOUT must be a number of seconds'],
    [{ ENABLE_WORKFLOW_EXECUTION: 'maybe' }, 'ENABLE_WORKFLOW_EXECUTION must be true or false'],
    [{ CORE_AGENT: 'oracle' }, 'CORE_AGENT must be one of: rule, llm'],
    [{ WORKFLOW_EXECUTOR_URL: 'executor:8003' }, 'WORKFLOW_EXECUTOR_URL must be an http(s) URL'],
    [{ LLM_BASE_URL: 'not a url' }, 'LLM_BASE_URL must be an http(s) URL'],
  ])('rejects %j with a message naming the variable', (env, message) => {
    expect(() => validateEnv(CoreConfig, { ...base, ...env })).toThrow(message);
  });
});
