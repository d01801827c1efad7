// Preloaded by bun test (bunfig.toml): a promise rejected without a handler fails the run
// instead of being printed and forgotten.
process.on("unhandledRejection", (reason) => {
  throw reason instanceof Error ? reason : new Error(String(reason));
});

// The transport AEADs use the system's libcrypto when there is one, as the daemon arranges at
// start-up (src/io/libcrypto.ts): simulations then seal and open as fast as the daemon does.
import { installNativeAead } from "../src/io/libcrypto.ts";

installNativeAead();
