import 'reflect-metadata';
export * from './common';
export * from './bucket';
export * from './core';
export * from './events';
export * from './karma';
export * from './workflow-executor';
export * from './workflows';
