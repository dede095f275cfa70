// The Nest guard lives in '@gatehouse/guard/nest', so plain Express/Fastify servers need no Nest.
export * from './errors';
export * from './middleware';
export * from './scope';
export * from './verifier';
