// Prints its pid and the JIT threshold, then takes the runtime's settings (io/runtime-env.ts).
import { execWithRuntimeEnv } from "../../src/io/runtime-env.ts";

console.log(`pid ${process.pid} jit ${process.env.BUN_JSC_thresholdForJITAfterWarmUp} args ${process.argv.slice(2).join(",")}`);
execWithRuntimeEnv((why) => console.log(`failed: ${why}`));
console.log("running");
