export * from './backoff';
export * from './engine-errors';
export * from './in-memory-runner';
export * from './interpreter';
export * from './run-state';
export * from './start-resolution';
export * from './manifest-tests';
export * from './workflow-set';
