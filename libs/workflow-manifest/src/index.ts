export * from './manifest.types';
