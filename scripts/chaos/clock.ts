/**
 * The clock step of `npm run chaos` (part of the peer faults): the real-time clock stepped by
 * +1 h, then by −1 h, each for a few seconds, with a 50 pps ping through the tunnel.
 *
 * What a step can reach: the core and everything that times the protocol (keepalives, link
 * timeouts, handshake and cookie lifetimes, the control server's rate limits and deadlines, the
 * log's folding of repeated lines) read the monotonic clock (performance.now(), src/io/driver.ts);
 * the real-time clock (Date.now()) is only read for what is shown: log timestamps and the epoch
 * times in /status (src/control/document.ts, src/daemon/reloading.ts). So a step must change
 * nothing but the dates printed. Network namespaces share the clock: the step reaches both ends
 * (and the whole machine, hence the short hold and the exact step back in clockstep.ts).
 */
import { join } from "node:path";
import type { ChaosLab, Row } from "./harness.ts";
import { logSince, logSize, row, stackTraces, startPing } from "./harness.ts";

const STEP_S = 3600;
/** Long enough for several keepalives and a link timeout (the lab's timeout is 5 s). */
const HOLD_S = 8;
const BACK_BOUND_S = 3;

interface StepReport {
  back: boolean;
  dateBefore: string;
  dateAfter: string;
  heldMs: number;
  errorMs: number;
}

export async function clockSteps(lab: ChaosLab, rows: Row[], notes: string[], data: Record<string, unknown>): Promise<void> {
  const { dir } = lab;
  for (const offset of [STEP_S, -STEP_S]) {
    const name = `real-time clock stepped ${offset > 0 ? "+" : "−"}1 h for ${HOLD_S} s`;
    const logStart = { client: logSize(dir, "client"), server: logSize(dir, "server") };
    const disconnects = async () => {
      let n = 0;
      for (const side of ["client", "server"] as const) n += (await lab.status(side)).tunnels.reduce((a, t) => a + t.disconnects, 0);
      return n;
    };
    const d0 = await disconnects();
    const ping = startPing(lab, 0.02);
    await Bun.sleep(1000);
    const stepper = Bun.spawn([process.execPath, join(import.meta.dir, "clockstep.ts"), String(offset), String(HOLD_S)], { stdout: "pipe", stderr: "pipe" });
    // Its first line once the clock is stepped; the probe from then on: it keeps passing, or is back within the bound.
    const reader = (stepper.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    for (let k = 0; k < 100 && !text.includes("\n"); k++) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    const during = await lab.probeBack(HOLD_S * 1000 - 500);
    const code = await stepper.exited;
    const after = await lab.probeBack(15_000);
    await Bun.sleep(1000);
    const p = await ping.stop();
    const d1 = await disconnects();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    const lines = text.trim().split("\n");
    let report: StepReport | undefined;
    try {
      report = JSON.parse(lines.at(-1)!) as StepReport;
    } catch {}
    data[name] = { report, during, after, ping: p, disconnects: d1 - d0, stderr: (await new Response(stepper.stderr).text()).slice(0, 300) };
    if (code !== 0 || !report?.back) {
      rows.push(row(name, `the step did not run (clockstep exit ${code}: ${(data[name] as { stderr: string }).stderr})`, "ran", false));
      continue;
    }
    const window = [...stackTraces(logSince(dir, "client", logStart.client)), ...stackTraces(logSince(dir, "server", logStart.server))];
    const warned = (["client", "server"] as const).flatMap((s) => logSince(dir, s, logStart[s]).split("\n").filter((l) => /\[(WARN|ERR)/.test(l)));
    rows.push(row(`${name}: probe through the tunnel after the step`, during === null ? `not answered within ${HOLD_S} s` : `answered after ${during.toFixed(2)} s`, `≤ ${BACK_BOUND_S} s`, during !== null && during <= BACK_BOUND_S));
    rows.push(row(`${name}: probe after the step back`, after === null ? "not answered within 15 s" : `answered after ${after.toFixed(2)} s`, `≤ ${BACK_BOUND_S} s`, after !== null && after <= BACK_BOUND_S));
    rows.push(row(`${name}: ping 50 pps meanwhile`, `${p.received}/${p.transmitted} answered`, "informative", true));
    rows.push(row(`${name}: links declared down (both ends)`, d1 - d0, "0", d1 === d0));
    rows.push(row(`${name}: warnings, errors, stack traces logged`, `${warned.length}, ${window.length}`, "0, 0", warned.length === 0 && window.length === 0));
    rows.push(
      row(
        `${name}: the machine's clock afterwards vs monotonic`,
        `\`date\` ${report.dateBefore} → ${report.dateAfter} over ${(report.heldMs / 1000).toFixed(2)} s monotonic: off by ${report.errorMs.toFixed(1)} ms`,
        "|off| ≤ 50 ms",
        Math.abs(report.errorMs) <= 50,
      ),
    );
    if (warned.length) notes.push(`${name}: logged ${warned.slice(0, 3).join(" / ")}`);
  }
  notes.push(
    "The clock step reaches both ends: network namespaces share the machine's real-time clock, and faketime does not reach the compiled binary. " +
      "Time namespaces (`unshare --time`) only offset CLOCK_MONOTONIC and CLOCK_BOOTTIME, and only from a process's start: they cannot jump a running daemon's clock. " +
      "A suspend, where the monotonic clock stands still while the process does not run, is what the SIGSTOP row above shows.",
  );
}
