// Prints its pid and MIMALLOC_PURGE_DELAY, then takes the runtime's settings (io/runtime-env.ts).
import { execWithRuntimeEnv } from "../../src/io/runtime-env.ts";

console.log(`pid ${process.pid} purge ${process.env.MIMALLOC_PURGE_DELAY} args ${process.argv.slice(2).join(",")}`);
execWithRuntimeEnv((why) => console.log(`failed: ${why}`));
console.log("running");
