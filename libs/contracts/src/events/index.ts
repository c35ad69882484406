export * from './event-topics';
export * from './event-bodies';
export * from './router-events';
export * from './event-batches';
export * from './event-error-code';
