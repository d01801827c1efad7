/**
 * What the daemon works out before it opens anything: each link's address family and peer (DNS),
 * the tunnel's MTU, and the key derivation the handshakes use (timed in the debug log).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Config, LinkConfig } from "../config/schema.ts";
import { type HandshakeCrypto, nativeHandshakeCrypto } from "../core/handshake.ts";
import { type TunnelMtu, tunnelMtu } from "../core/mtu.ts";
import type { PeerAddress } from "../core/tunnel.ts";
import type { Clock } from "../io/driver.ts";
import type { Logger } from "../log.ts";

export type Mode = Config["general"]["mode"];

/** The daemon cannot start: a one-line reason for the user (not a bug). */
export class StartError extends Error {}

/** Where a link is: the address family to bind, and (client) the server's address once resolved. */
export interface LinkPlace {
  family: 4 | 6;
  peer?: PeerAddress;
}

/** A literal address as it is, else a DNS lookup (of `family` when given). */
export async function resolveHost(host: string, family?: 4 | 6): Promise<{ address: string; family: 4 | 6 }> {
  const literal = isIP(host);
  if (literal) return { address: host, family: literal as 4 | 6 };
  const r = await lookup(host, family ? { family } : {});
  return { address: r.address, family: r.family as 4 | 6 };
}

/** Client links need the server's address family before binding; a name that does not resolve yet is tried again later. */
export async function resolveLink(mode: Mode, l: LinkConfig, log: Logger): Promise<LinkPlace> {
  const host = mode === "client" ? l.remotehost! : l.bindhost;
  // "::" also receives IPv4 on a dual-stack socket
  if (!host) return { family: mode === "server" ? 6 : 4 };
  try {
    const r = await resolveHost(host);
    return { family: r.family, peer: mode === "client" ? { address: r.address, port: l.remoteport! } : undefined };
  } catch (e) {
    log.warn("dns", `[${l.name}] cannot resolve ${host} yet (${(e as Error).message}); retrying on every connection attempt`);
    return { family: 4 };
  }
}

/** The tun MTU for these links (a warning logged when the configured one does not fit). */
export function linksMtu(config: Config, families: ReadonlyArray<4 | 6>, log: Logger): TunnelMtu {
  const g = config.general;
  const mtu = tunnelMtu({ configured: g.mtu, ipv6Links: families.includes(6) && g.mode === "client", kind: g.tuntap });
  if (mtu.warning) log.warn("tuntap", mtu.warning);
  return mtu;
}

/**
 * The handshakes' crypto, with the password stretching timed: it is done for the server's salt
 * by the server at start, by the client when it learns the salt (first handshake, and after a
 * server restart).
 *
 * scrypt's 16 MiB are freed when it returns, but the allocator keeps them committed for a while:
 * buffers allocated meanwhile (the server makes its links' send stores and socket slabs right
 * after) reuse them and are zeroed page by page, so ~18 MiB of zeros stayed resident for the
 * process's life. A full collection right after returns them to the system first.
 *
 * `beforeStretch`: the daemon's start-up peak of resident memory is these 16 MiB on top of what
 * start-up mapped: the real daemon unmaps its cold code pages first (io/cold-pages.ts).
 */
export function timedHandshakeCrypto(clock: Clock, log: Logger, collect: () => void = () => Bun.gc(true), beforeStretch: () => void = () => {}): HandshakeCrypto {
  return {
    scalarMult: nativeHandshakeCrypto.scalarMult,
    stretch(password: Uint8Array, salt: Uint8Array): Uint8Array {
      beforeStretch();
      const started = clock.now();
      const prs = nativeHandshakeCrypto.stretch(password, salt);
      const stretched = clock.now();
      collect();
      log.debug("protocol", `key derived from the password for the server's salt in ${Math.round(stretched - started)} ms (its memory returned in ${Math.round(clock.now() - stretched)} ms)`);
      return prs;
    },
  };
}

/** Picks the local address to bind: bindhost, else the wildcard of the peer's family. */
export function bindAddress(bindhost: string | undefined, peerFamily: 4 | 6): string {
  if (bindhost) return bindhost;
  return peerFamily === 6 ? "::" : "0.0.0.0";
}
