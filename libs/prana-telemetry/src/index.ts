export * from './focus-state';
export * from './signals';
export * from './packet';
export * from './offline-queue';
export * from './delivery';
export * from './telemetry-client';
