import { validateEnv } from '@pancha/service-kit';
import { WorkflowExecutorConfig } from './env.validation';

/** A validated config for unit tests: the real defaults plus the given variables. */
export function testConfig(env: Record<string, string> = {}): WorkflowExecutorConfig {
  return validateEnv(WorkflowExecutorConfig, { DATABASE_URL: 'postgres://unused@127.0.0.1/unused', ...env });
}
