/**
 * The daemon's /status document and its control server (HTTP and the Unix line protocol). The
 * only module of the daemon that knows the control and status layers.
 */
import type { Config } from "../config/schema.ts";
import type { TunnelSnapshot } from "../core/tunnel.ts";
import { type ControlServer, ControlStartError, listenersOf, startControl } from "../control/server.ts";
import type { Logger } from "../log.ts";
import type { StatusDocument } from "../control/contract.ts";
import { buildStatus, type ProcessFacts, statusJson } from "../control/document.ts";
import { buildMetrics } from "../control/metrics.ts";
import { statusPageHtml } from "../control/page.ts";
import { VERSION } from "../version.ts";
import { StartError } from "./setup.ts";

export type { StatusDocument };

/** What the status document is made of, read at each request. */
export interface StatusSource {
  snapshot(): TunnelSnapshot;
  /** The configuration in effect. */
  running(): Config;
  facts(): Omit<ProcessFacts, "version" | "pid" | "controlRejected">;
}

export interface StatusControl {
  status(): StatusDocument;
  close(): void;
}

/** Starts the listeners the configuration asks for; throws a StartError when one cannot listen. */
export async function startStatusControl(config: Config, source: StatusSource, log: Logger): Promise<StatusControl> {
  let control: ControlServer | undefined;
  const status = (): StatusDocument =>
    buildStatus(source.snapshot(), source.running(), { ...source.facts(), version: VERSION, pid: process.pid, controlRejected: control?.rejected }, Date.now());
  try {
    control = await startControl({ ...listenersOf(config.general), content: { status: () => statusJson(status()), metrics: () => buildMetrics(status()), page: statusPageHtml }, log });
  } catch (e) {
    throw e instanceof ControlStartError ? new StartError(e.message) : e;
  }
  const server = control;
  return { status, close: () => server.close() };
}
