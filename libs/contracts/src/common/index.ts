export * from './api-error';
export * from './field-limits';
export * from './health';
export * from './identity';
export * from './metrics';
export * from './timestamp';
export * from './not-blank';
export * from './storable-text';
