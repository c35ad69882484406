export * from './event-topics';
export * from './event-bodies';
