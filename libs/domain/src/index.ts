// The pure domain of Gatehouse: no framework, database or network imports, time passed in.
export * from './errors';
export * from './duration';
export * from './risk';
export * from './state';
export * from './approval';
export * from './delegation';
export * from './policy/types';
export * from './policy/parse';
export * from './policy/scope';
export * from './policy/http';
export * from './policy/evaluate';
export * from './policy/reminders';
export * from './policy/request';
export * from './policy/policy-test';
export * from './policy/policy-test.run';
export * from './policy/lint';
export * from './text';
