export * from './execute-workflow.dto';
export * from './workflow-executor.enums';
export * from './workflow-executor.types';
