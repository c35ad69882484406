export * from './workflow-catalog';
export * from './workflow-runs';
