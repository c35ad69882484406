export * from './test-database';
export * from './otlp-receiver';
