export * from './karma-error-code';
export * from './karma-event.dto';
export * from './karma-views';
