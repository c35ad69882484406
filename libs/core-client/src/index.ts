export * from './core.client';
