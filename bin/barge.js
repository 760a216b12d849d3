#!/usr/bin/env -S node --max-semi-space-size=4 --no-concurrent-recompilation
// (A young generation capped at 4 MB per semi-space: each small message allocates about 25 KB of
// short-lived objects, and against 1 MB this cut CPU per message by 5-15 %; message bytes are
// collected as before, so the resident size stays flat whatever the message size. Optimising
// compilation on the main thread keeps the compiler's scratch memory in the one C heap that is
// reused, instead of a heap per background thread that keeps its high-water mark. npm start and
// the benchmark pass the same flags.)
// The `barge` command: runs the compiled CLI (npm run build, or any npm start/test, compiles it).
// Concurrent sessions fsync in parallel on libuv's thread pool; its default of 4 threads would
// serialise them, so widen it before anything touches the pool.
process.env.UV_THREADPOOL_SIZE ??= '16';

// The last resort. Each inbound connection and each outbound delivery has its own error boundary,
// so a throw that reaches here escaped all of them, and Node documents the process's state after an
// uncaught exception as undefined. So Barge logs the stack and exits (70, EX_SOFTWARE) rather than
// go on in a state nobody can vouch for, as a Postfix or Exim daemon lets a broken child die: every
// 250 already follows its fsync, clients whose sessions are cut retry, and a supervisor (systemd's
// Restart=on-failure) starts a clean process that recovers the spool.
const lastResort = (what) => (err) => {
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`barge: ${what} outside every session's error boundary (a bug); exiting: ${stack}\n`);
  process.exit(70);
};
process.on('uncaughtException', lastResort('uncaught exception'));
process.on('unhandledRejection', lastResort('unhandled promise rejection'));

const { main } = await import('../dist/src/app/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
