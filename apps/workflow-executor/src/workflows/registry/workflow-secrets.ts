import { readFileSync } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { parse as parseYaml } from 'yaml';
import { WorkflowExecutorConfig } from '../../config/env.validation';

/** Environment variables that hold workflow secrets carry this prefix; nothing else in the environment is reachable. */
export const SECRET_ENV_PREFIX = 'WORKFLOW_SECRET_';

/**
 * Values of the secrets manifests declare (`security.secrets`), from WORKFLOW_SECRETS_FILE (a YAML/JSON map) and
 * from `WORKFLOW_SECRET_<NAME>` variables (the environment wins). Only the prefix makes a variable a secret, so a
 * manifest can never declare `DATABASE_URL` and read the executor's own configuration.
 */
@Injectable()
export class WorkflowSecrets {
  private readonly values = new Map<string, string>();

  constructor(config: WorkflowExecutorConfig, env: NodeJS.ProcessEnv = process.env) {
    if (config.WORKFLOW_SECRETS_FILE) {
      const doc: unknown = parseYaml(readFileSync(config.WORKFLOW_SECRETS_FILE, 'utf8'));
      if (doc !== null && doc !== undefined) {
        if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`WORKFLOW_SECRETS_FILE ${config.WORKFLOW_SECRETS_FILE}: expected a mapping of NAME: value`);
        for (const [name, value] of Object.entries(doc as Record<string, unknown>)) this.values.set(name, String(value));
      }
    }
    for (const [key, value] of Object.entries(env)) {
      if (key.startsWith(SECRET_ENV_PREFIX) && value !== undefined) this.values.set(key.slice(SECRET_ENV_PREFIX.length), value);
    }
  }

  /** The declared secrets that have a value; a declared secret without one is simply absent from `secrets`. */
  valuesFor(names: readonly string[]): Readonly<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of names) {
      const value = this.values.get(name);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }
}
