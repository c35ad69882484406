export * from './core-error-code';
export * from './core-events';
export * from './handle-task.dto';
export * from './task-status';
export * from './task-view';
