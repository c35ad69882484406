export * from './http-service.client';
export * from './service-call.error';
