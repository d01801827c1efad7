// Preloaded by bun test (bunfig.toml).
import { setDefaultTimeout } from "bun:test";

// A promise rejected without a handler fails the run instead of being printed and forgotten.
process.on("unhandledRejection", (reason) => {
  throw reason instanceof Error ? reason : new Error(String(reason));
});

// Bun's default per-test timeout is 5 s, and bunfig.toml's [test] timeout is not read: a
// simulation that takes 2 s of CPU on an idle machine took over 5 s with another process
// holding a core. A test that needs more says so itself.
setDefaultTimeout(30_000);
