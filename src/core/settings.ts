/**
 * A link's settings as the core uses them. The configuration's spelling (MLVPN's
 * `loss_tolerence`, `latency_tolerence`, seconds for `timeout`, 0 for "no limit") stops here:
 * the tunnel maps each section once, where it is created or reloaded, and every rule in the
 * core reads these names and units.
 */
import type { LinkConfig } from "../config/schema.ts";

export interface LinkSettings {
  readonly name: string;
  /** Silent this long, the link is down (MLVPN's `timeout`; docs/c-mlvpn.md, "Link states"). */
  readonly timeoutMs: number;
  /** Lossy at this percent of loss or more; undefined: never (MLVPN's 100). */
  readonly lossTolerancePercent: number | undefined;
  /** Slow at this smoothed RTT or more; undefined: never (MLVPN's 1000 ms). */
  readonly latencyToleranceMs: number | undefined;
  /** Starting capacity estimate and cap, bytes per second; 0: none (`bandwidth_upload`). */
  readonly uploadLimitBytesPerSec: number;
  /** Carries data only when no other link is healthy. */
  readonly fallbackOnly: boolean;
  /** Lower is preferred (0 by default). */
  readonly priority: number;
}

/** MLVPN's values that turn a tolerance check off. */
const LOSS_CHECK_OFF = 100;
const LATENCY_CHECK_OFF_MS = 1000;

export function linkSettings(c: LinkConfig): LinkSettings {
  return {
    name: c.name,
    timeoutMs: c.timeout * 1000,
    lossTolerancePercent: c.loss_tolerence < LOSS_CHECK_OFF ? c.loss_tolerence : undefined,
    latencyToleranceMs: c.latency_tolerence < LATENCY_CHECK_OFF_MS ? c.latency_tolerence : undefined,
    uploadLimitBytesPerSec: c.bandwidth_upload ?? 0,
    fallbackOnly: c.fallback_only ?? false,
    priority: c.priority ?? 0,
  };
}
