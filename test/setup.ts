// Preloaded by bun test (bunfig.toml): a promise rejected without a handler fails the run
// instead of being printed and forgotten.
process.on("unhandledRejection", (reason) => {
  throw reason instanceof Error ? reason : new Error(String(reason));
});
