/**
 * Steps the machine's real-time clock (CLOCK_REALTIME) by OFFSET seconds for HOLD seconds, then
 * steps it back by the same amount, for the clock test of `npm run chaos` (scripts/chaos/clock.ts).
 *
 *   bun scripts/chaos/clockstep.ts OFFSET_S HOLD_S      (root)
 *
 * Both steps are relative (adjtimex ADJ_SETOFFSET), so the second undoes the first exactly, with
 * no read-then-set latency; the wait in between is a synchronous sleep on the monotonic clock,
 * which a real-time step does not move. SIGINT, SIGTERM and SIGHUP are caught so that the step
 * back always runs (only SIGKILL could leave the clock stepped: HOLD_S is kept short). Prints
 * one JSON line: the real-time clock before the step and after the step back, as `date` shows
 * it, and what the monotonic clock says it should be.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const ADJ_SETOFFSET = 0x0100;
const ADJ_NANO = 0x2000;
/** sizeof(struct timex) on 64-bit Linux; `time` (a struct timeval) is at byte 72. */
const TIMEX_BYTES = 208;
const TIME_OFFSET = 72;

const libc = dlopen("libc.so.6", { adjtimex: { args: [FFIType.ptr], returns: FFIType.i32 } });

/** Steps CLOCK_REALTIME by `seconds` (an integer); throws with errno's meaning when refused. */
function step(seconds: number): void {
  const tx = new DataView(new ArrayBuffer(TIMEX_BYTES));
  tx.setUint32(0, ADJ_SETOFFSET | ADJ_NANO, true);
  tx.setBigInt64(TIME_OFFSET, BigInt(seconds), true);
  tx.setBigInt64(TIME_OFFSET + 8, 0n, true); // nanoseconds (ADJ_NANO), 0 ≤ n < 10⁹
  if (libc.symbols.adjtimex(ptr(tx)) < 0) throw new Error(`adjtimex(ADJ_SETOFFSET ${seconds} s) refused (root needed)`);
}

const date = (): string => Bun.spawnSync(["date", "-u", "+%Y-%m-%dT%H:%M:%S.%N"]).stdout.toString().trim();

const [offsetS, holdS] = process.argv.slice(2).map(Number);
if (!Number.isInteger(offsetS) || !(holdS! > 0 && holdS! <= 60)) {
  console.error("usage: clockstep.ts OFFSET_S(integer) HOLD_S(0 < s ≤ 60)");
  process.exit(2);
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});

const dateBefore = date();
const realBefore = Date.now();
const monoBefore = performance.now();
step(offsetS!);
let back = false;
try {
  console.log(JSON.stringify({ stepped: offsetS, at: date() }));
  Bun.sleepSync(holdS! * 1000);
} finally {
  step(-offsetS!);
  back = true;
}
const monoAfter = performance.now();
const realAfter = Date.now();
console.log(
  JSON.stringify({
    back,
    dateBefore,
    dateAfter: date(),
    heldMs: monoAfter - monoBefore,
    // Real time after − (real time before + monotonic time elapsed): 0 when the clock is back.
    errorMs: realAfter - (realBefore + (monoAfter - monoBefore)),
  }),
);
