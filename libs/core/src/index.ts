export * from './clock.js';
export * from './random.js';
export * from './member.js';
export * from './messages.js';
export * from './effects.js';
export * from './config.js';
