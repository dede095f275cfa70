export * from './audit-hash';
export * from './checkpoint-signer';
export * from './audit-sealer';
export * from './audit-verifier';
