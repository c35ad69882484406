export * from './test-database';
export * from './otlp-receiver';
export * from './e2e-helpers';
export * from './eventually';
export * from './idempotent-sink';
export * from './stand-in-server';
export * from './test-keys';
export * from './test-service';
