export * from './plugin.types';
export * from './plugin-host';
