export * from './client';
export * from './errors';
export * from './keys';
export * from './types';
