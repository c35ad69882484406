export * from './test-database';
export * from './otlp-receiver';
export * from './e2e-helpers';
export * from './idempotent-sink';
