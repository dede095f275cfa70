// How a Gatehouse process starts and stops: shared by the API, the worker and the combined app.
export * from './root-module';
export * from './run-main';
export * from './shutdown';
export * from './http-drain';
