export * from './filters';
export * from './trigger';
