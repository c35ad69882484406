import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import type { FieldError } from '@pancha/contracts';
import { compileJsonSchema, type JsonSchema, type JsonSchemaValidator } from '@pancha/workflow-manifest';
import { parse as parseYaml } from 'yaml';
import { CoreConfig } from '../config/env.validation';

interface EventTypeDoc {
  type: string;
  description?: string;
  data: JsonSchema;
}

/**
 * The registered event types (`events/*.yaml` at the repository root, or EVENTS_DIR): each type's `data` schema,
 * compiled once at start. A schema that does not compile stops Core from starting, naming the file.
 */
@Injectable()
export class EventSchemasService {
  private readonly logger = new Logger(EventSchemasService.name);
  private readonly validators = new Map<string, JsonSchemaValidator>();
  readonly descriptions = new Map<string, string>();

  constructor(config: CoreConfig) {
    const dir = resolveEventsDir(config.EVENTS_DIR);
    if (!dir) {
      this.logger.warn({ msg: 'no events/ folder found: every event type is accepted without a schema' });
      return;
    }
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort()) {
      const where = path.join(dir, file);
      const doc = parseYaml(readFileSync(where, 'utf8')) as { events?: EventTypeDoc[] } | null;
      for (const [i, entry] of (doc?.events ?? []).entries()) {
        if (typeof entry?.type !== 'string' || typeof entry.data !== 'object') throw new Error(`${where}: events[${i}] needs a type and a data schema`);
        if (this.validators.has(entry.type)) throw new Error(`${where}: event type ${entry.type} is registered twice`);
        try {
          this.validators.set(entry.type, compileJsonSchema(entry.data, { rootName: 'data' }));
        } catch (error) {
          throw new Error(`${where}: the schema of ${entry.type} is invalid: ${(error as Error).message}`);
        }
        this.descriptions.set(entry.type, entry.description ?? '');
      }
    }
    this.logger.log({ msg: 'event types loaded', dir, types: this.validators.size });
  }

  has(type: string): boolean {
    return this.validators.has(type);
  }

  /** The problems of an event's data against its type's schema ([] when valid or when the type has none). */
  validate(type: string, data: unknown): FieldError[] {
    return this.validators.get(type)?.(data) ?? [];
  }
}

/** EVENTS_DIR, else the `events/` folder beside `config/policy.yaml` above this file (src/ under Jest, dist/ at run time) or the working directory. */
function resolveEventsDir(configured: string | undefined): string | undefined {
  if (configured?.trim()) return path.resolve(configured.trim());
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'config', 'policy.yaml')) && existsSync(path.join(dir, 'events'))) return path.join(dir, 'events');
    if (path.dirname(dir) === dir) break;
  }
  const fromCwd = path.resolve('events');
  return existsSync(fromCwd) ? fromCwd : undefined;
}
