/**
 * JSON Schema (draft 2020-12) of the manifest format as users write it (the WORKFLOWS.md contract and this
 * lib's README). It checks shape only: keys, types, durations, names and refs; which keys go together (a step's
 * kind, a switch case) is checked while normalising, where the message can say what was meant. Editors can use it
 * too.
 *
 * Custom formats (registered by parse-manifest.ts): `duration`, `window` (a trigger's), `semver`, `workflow-name`,
 * `step-id`, `workflow-ref`. A duration may be a string or a number of milliseconds, so it is typed
 * `['string', 'integer']`: `format` applies to the string, `minimum` to the number.
 */
import { RUN_STATUSES } from './manifest.types';

const duration = { type: ['string', 'integer'], format: 'duration', minimum: 0 } as const;

/** The longest trigger window (`dedup.window`, `rate_limit.per`, `debounce.quiet`): 365 days. */
export const MAX_TRIGGER_WINDOW_MS = 365 * 86_400_000;
/**
 * The most starts `rate_limit.max` may allow per window. The router keeps the time of each start of the window in the
 * key's state row (`event_filter_state`, JSON), rewritten by every event of the key: the bound keeps that row small.
 */
export const MAX_RATE_LIMIT_MAX = 1000;
/**
 * A trigger's window: a duration longer than 0 (a window of 0 would let every event through, the filter doing
 * nothing) and at most MAX_TRIGGER_WINDOW_MS (Core adds it to its clock and shows the end as a time). The custom
 * format `window` checks the string form, minimum and maximum the number of milliseconds.
 */
const window = { type: ['string', 'integer'], format: 'window', minimum: 1, maximum: MAX_TRIGGER_WINDOW_MS } as const;
// Whether an expression compiles is the semantic layer's finding (it can say which variable or column).
const expression = { type: 'string', minLength: 1 } as const;
const stepId = { type: 'string', format: 'step-id' } as const;
const workflowRef = { type: 'string', format: 'workflow-ref' } as const;
const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const jsonSchema = { type: ['object', 'boolean'] } as const;

export const MANIFEST_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://pancha.dev/schemas/workflow-manifest.json',
  title: 'Pancha workflow manifest',
  type: 'object',
  required: ['name', 'version', 'steps'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', format: 'workflow-name', description: 'Lower-case letters, digits and hyphens; the file name matches.' },
    version: { type: 'string', format: 'semver', description: 'x.y.z[-pre]; name@version is immutable once registered.' },
    description: { type: 'string' },
    owner: { type: 'string' },
    enabled: { type: 'boolean' },
    deprecated: { type: 'boolean' },
    retired: { type: 'boolean' },
    inputs: jsonSchema,
    outputs: jsonSchema,
    timeout: duration,
    retry: { $ref: '#/$defs/retry' },
    security: {
      type: 'object',
      additionalProperties: false,
      properties: {
        actions: stringList,
        http_hosts: { type: 'array', items: { type: 'string', pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$' } },
        // Not __proto__, constructor or prototype: a secrets scope is a plain object, where those names are not data.
        secrets: { type: 'array', items: { type: 'string', pattern: '^(?!(?:__proto__|constructor|prototype)$)[A-Za-z_][A-Za-z0-9_]*$' } },
      },
    },
    triggers: { type: 'array', items: { $ref: '#/$defs/trigger' } },
    steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
    output: {},
    on_failure: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { workflow: workflowRef, with: {}, steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } } },
    },
    tests: { type: 'array', items: { $ref: '#/$defs/test' } },
    migrations: {
      type: 'object',
      propertyNames: { pattern: '^[0-9]+\\.x$' },
      additionalProperties: { type: 'object' },
    },
  },
  $defs: {
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_attempts: { type: 'integer', minimum: 1 },
        initial_interval: duration,
        backoff_coefficient: { type: 'number', minimum: 1 },
        max_interval: duration,
        non_retryable: stringList,
      },
    },
    step: {
      type: 'object',
      required: ['id'],
      additionalProperties: false,
      properties: {
        id: stepId,
        description: { type: 'string' },
        if: expression,
        timeout: duration,
        on_failure: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { continue: { const: true }, goto: stepId, workflow: workflowRef, with: {} },
        },
        retry: { $ref: '#/$defs/retry' },
        action: { type: 'string', pattern: '^[a-z][a-z0-9_.-]*$' },
        with: {},
        parallel: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
        join: { enum: ['all', 'any'] },
        fail_fast: { type: 'boolean' },
        switch: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              when: expression,
              if: expression,
              steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
              default: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
            },
          },
        },
        steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
        foreach: expression,
        concurrency: { type: 'integer', minimum: 1 },
        workflow: workflowRef,
        // `sleep: 1h` (string), `sleep: 5000` (ms), `sleep: { until: "{{ inputs.at }}" }` or `sleep: { for: "{{ inputs.wait }}" }`.
        sleep: {
          type: ['string', 'integer', 'object'],
          format: 'duration',
          minimum: 0,
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: false,
          properties: { until: { type: 'string', minLength: 1 }, for: { type: 'string', minLength: 1 } },
        },
        approval: {
          type: 'object',
          required: ['signal'],
          additionalProperties: false,
          properties: { signal: { type: 'string', minLength: 1 }, timeout: duration, on_timeout: { enum: ['fail', 'continue'] } },
        },
      },
    },
    trigger: {
      type: 'object',
      required: ['event'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        event: { type: 'string', pattern: '^([A-Za-z0-9_:-]+(\\.[A-Za-z0-9_:-]+)*(\\.\\*)?|\\*)$' },
        key: expression,
        if: expression,
        threshold: {
          type: 'object',
          required: ['field'],
          additionalProperties: false,
          properties: { field: expression, above: { type: 'number' }, below: { type: 'number' }, on: { enum: ['crossing', 'every'] } },
        },
        delta: {
          type: 'object',
          required: ['field', 'min_change'],
          additionalProperties: false,
          properties: { field: expression, min_change: { type: 'number', minimum: 0 }, relative: { type: 'boolean' } },
        },
        dedup: { type: 'object', required: ['window'], additionalProperties: false, properties: { window } },
        rate_limit: {
          type: 'object',
          required: ['max', 'per'],
          additionalProperties: false,
          properties: {
            max: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_RATE_LIMIT_MAX,
              description: "the router keeps each start of the window in the key's state; for a higher rate, shorten per",
            },
            per: window,
            mode: { enum: ['drop', 'delay'] },
          },
        },
        debounce: { type: 'object', required: ['quiet'], additionalProperties: false, properties: { quiet: window } },
        inputs: {},
      },
    },
    test: {
      type: 'object',
      required: ['name', 'expect'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        inputs: { type: 'object' },
        stub: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              output: {},
              error: {
                type: ['string', 'object'],
                minLength: 1,
                required: ['code'],
                additionalProperties: false,
                properties: { code: { type: 'string', minLength: 1 }, message: { type: 'string' } },
              },
            },
          },
        },
        signals: { type: 'object' },
        expect: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: {
            status: { enum: [...RUN_STATUSES] },
            output: {},
            error: { type: 'string' },
            steps_taken: { type: 'array', items: stepId },
          },
        },
      },
    },
  },
} as const;
