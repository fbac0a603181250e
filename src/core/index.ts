export * from './errors.js';
export * from './ids.js';
export * from './spec.js';
export * from './validate.js';
export * from './deployment.js';
export * from './auth.js';
export * from './isolation.js';
export * from './duration.js';
