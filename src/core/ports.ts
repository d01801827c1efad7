/**
 * What the tunnel core takes from and gives to the I/O shell (src/daemon.ts, the simulator in
 * test/sim/simnet.ts): options, randomness, and the output port.
 */
import type { LinkConfig } from "../config/schema.ts";
import { readU32 } from "../wire/bytes.ts";
import type { FilterRules } from "./filters.ts";
import type { RedundantRules } from "./redundant.ts";
import type { HandshakeSecrets } from "./handshake.ts";
import type { LinkStatus, PeerAddress } from "./link.ts";

/** Randomness is injected: tests seed it, the daemon uses the system CSPRNG. */
export interface Random {
  fill(buf: Uint8Array): void;
}

/** A random u32 (instance ids, receiver indices). */
export function randomU32(random: Random): number {
  const b = new Uint8Array(4);
  random.fill(b);
  return readU32(b, 0);
}

export type TunnelEvent =
  | { type: "link-up"; link: number }
  | { type: "link-down"; link: number; reason: string }
  /**
   * MLVPN's state of a link changed (`previous` → `status`); the link's tolerances at that moment
   * (undefined: that check is off), so that the shell can say why it became lossy or slow.
   */
  | { type: "link-status"; link: number; status: LinkStatus; previous: LinkStatus; lossTolerancePercent: number | undefined; latencyToleranceMs: number | undefined }
  /** A removed link no longer receives (lifecycle.ts): its socket can be closed. */
  | { type: "link-gone"; link: number }
  | { type: "tunnel-up" }
  | { type: "tunnel-down" }
  /** Client: (re)resolve this link's remotehost and call setPeer. */
  | { type: "resolve"; link: number };

export type LogLevel = "warn" | "info" | "debug";

export interface TunnelOutput {
  /**
   * `urgent`: send it now, with whatever was queued before it, rather than with the rest of the
   * input at its end (a redundant copy: src/core/redundant.ts; a rate train's packet, each its own
   * datagram: transmit.ts train). The shell batches the datagrams
   * of one input (sendmmsg); a large input, read after a pause, took milliseconds to handle.
   */
  transmit(link: number, datagram: Uint8Array, peer: PeerAddress, urgent?: boolean): void;
  deliver(packet: Uint8Array): void;
  event(e: TunnelEvent): void;
  log(level: LogLevel, token: string, message: string): void;
}

export interface TunnelOptions {
  mode: "client" | "server";
  /** The configuration's sections; the core maps each to its LinkSettings (settings.ts). */
  links: readonly LinkConfig[];
  secrets: HandshakeSecrets;
  cleartextData: boolean;
  reorderBufferSize: number;
  /** Largest packet read from the tun that fits the tunnel (the tun MTU, + 14 in tap mode). */
  maxPacketSize: number;
  /** tun: IP packets (ICMP "too big" can be answered); tap: Ethernet frames. */
  kind: "tun" | "tap";
  random: Random;
  output: TunnelOutput;
  nowMs: number;
  /** `[filters]`, compiled (src/core/filters.ts); none: every packet is scheduled. */
  filters?: FilterRules;
  /** `redundant` and `redundant_copies`, compiled (src/core/redundant.ts); none: no packet is copied. */
  redundant?: RedundantRules;
}
