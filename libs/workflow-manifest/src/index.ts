export * from './manifest.types';
export * from './duration';
export * from './workflow-ref';
export * from './versions';
export * from './expressions';
export * from './canonical-json';
export * from './json-schema';
