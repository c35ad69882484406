export * from './audit';
export * from './bucket-error-code';
export * from './bucket-event';
export * from './canonical-json';
export * from './events-query.dto';
export * from './prana.dto';
export * from './write-event.dto';
