export * from './workflow-catalog';
export * from './workflow-runs';
export * from './operations';
export * from './plugins';
