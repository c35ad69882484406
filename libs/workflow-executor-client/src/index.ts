export * from './workflow-executor.client';
