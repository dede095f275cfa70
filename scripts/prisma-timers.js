// Preloaded into the Prisma CLI by scripts/prisma.js. Prisma's WebAssembly schema engine races the
// migration advisory lock against a 10 s timeout and leaves that timer pending once the lock is
// won, so every `migrate deploy` idled 10 s before exiting. Timers the engine starts must not keep
// the process alive: they are unref'd. They still fire while anything else is pending (a contended
// lock keeps its database socket open), so the timeout keeps working when it matters.
const { setTimeout: original } = globalThis;
globalThis.setTimeout = function setTimeout(callback, ms, ...args) {
  const timer = original(callback, ms, ...args);
  if (ms >= 1000 && /wasm:\/\//.test(new Error().stack ?? '')) timer.unref();
  return timer;
};
