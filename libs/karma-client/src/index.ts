export * from './karma.client';
