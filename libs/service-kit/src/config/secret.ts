import { inspect } from 'node:util';

const SECRETS = Symbol('pancha.config.secrets');
export const REDACTED = '[redacted]';

type WithSecrets = { [SECRETS]?: Set<string> };

/**
 * Marks a config property as a secret (a key, a password, a URL that may carry credentials). Its value
 * is never rendered by the config's toJSON / util.inspect (so a logged config shows `[redacted]`) and
 * never echoed by validateEnv's error message.
 */
export function Secret(): PropertyDecorator {
  return (target, property) => {
    const proto = target as WithSecrets;
    // Own set per class, seeded from the parent's, so a subclass's secrets do not leak into the base.
    const inherited = proto[SECRETS];
    const own = Object.prototype.hasOwnProperty.call(proto, SECRETS) ? inherited! : new Set(inherited ?? []);
    own.add(String(property));
    Object.defineProperty(proto, SECRETS, { value: own, enumerable: false, configurable: true });
  };
}

/** The names of the secret properties of `config` (declared with @Secret on its class or a parent). */
export function secretNames(config: object): string[] {
  return [...((config as WithSecrets)[SECRETS] ?? [])];
}

/** A copy of `config` for logs and dumps: every secret that is set shows as `[redacted]`. */
export function redactConfig(config: object): Record<string, unknown> {
  const secrets = new Set(secretNames(config));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = secrets.has(key) && value !== undefined && value !== '' ? REDACTED : value;
  }
  return out;
}

/** Replaces every occurrence of a secret's value in `text` (e.g. an error message quoting its input). */
export function redactSecretValues(text: string, config: object, source: Record<string, unknown> = config as Record<string, unknown>): string {
  const values = secretNames(config)
    .map((name) => source[name])
    .filter((value): value is string => typeof value === 'string' && value.length >= 4)
    // Longest first: a secret may contain another (a URL holding a password).
    .sort((x, y) => y.length - x.length);
  return values.reduce((out, value) => out.split(value).join(REDACTED), text);
}

/**
 * Base for config classes: however the object is printed (JSON.stringify, pino, util.inspect, console.log),
 * its secrets show as `[redacted]`.
 */
export abstract class RedactedConfig {
  toJSON(): Record<string, unknown> {
    return redactConfig(this);
  }

  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect(redactConfig(this))}`;
  }
}
