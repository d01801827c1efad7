/**
 * How large the tun MTU may be so that one inner packet plus our encapsulation fits a 1500-byte
 * path without IP fragmentation (the C MLVPN's defaults overflow it: docs/c-mlvpn.md, "Sizes and MTU").
 */
import { TUNNEL_OVERHEAD, UDP_IPV4_OVERHEAD, UDP_IPV6_OVERHEAD } from "../wire/layout.ts";

export const PATH_MTU = 1500;
export const ETHERNET_HEADER = 14;

export interface TunnelMtu {
  /** MTU of the tun/tap interface (also `MTU` for the status script). */
  mtu: number;
  /** Largest packet read from the device that the tunnel carries (tap frames include the Ethernet header). */
  maxPacket: number;
  /** Largest datagram the links will carry, IP header included. */
  outerMax: number;
  warning?: string;
}

export function tunnelMtu(opts: { configured?: number; ipv6Links: boolean; kind: "tun" | "tap" }): TunnelMtu {
  const outerHeaders = opts.ipv6Links ? UDP_IPV6_OVERHEAD : UDP_IPV4_OVERHEAD;
  const frame = opts.kind === "tap" ? ETHERNET_HEADER : 0;
  const overhead = outerHeaders + TUNNEL_OVERHEAD + frame;
  const mtu = opts.configured ?? PATH_MTU - overhead;
  const result: TunnelMtu = { mtu, maxPacket: mtu + frame, outerMax: mtu + overhead };
  if (result.outerMax > PATH_MTU) {
    result.warning = `mtu = ${mtu}: with ${overhead} bytes of encapsulation the links carry ${result.outerMax}-byte packets, more than a ${PATH_MTU}-byte path; they will be fragmented or lost (${PATH_MTU - overhead} fits)`;
  }
  return result;
}
