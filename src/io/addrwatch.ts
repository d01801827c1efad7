/**
 * Addresses of this machine, and a wake-up when they change.
 *
 * A client link bound to an address (`bindhost`) or an interface (`bindinterface`) must not send
 * while that address, or every address of that interface of the peer's family, is gone: the
 * kernel would pick another interface's address as the source for a socket bound to the wildcard
 * address on an interface (SO_BINDTODEVICE), and sends an IPv6 datagram from a bound address that
 * was removed, and a server that follows its authenticated client (roaming, docs/protocol.md
 * "Transport") would follow it there. The daemon checks the addresses with `sourceGone` when the
 * kernel says they changed (`openAddressWatch`, a NETLINK_ROUTE socket polled with the links'
 * sockets) and on every reconnect attempt of a link (src/daemon/links.ts).
 */
import { networkInterfaces } from "node:os";
import { isIP } from "node:net";
import { bind, close, Errno, SOCK_CLOEXEC, SOCK_NONBLOCK, socket, tryRecv } from "./libc.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
/** Multicast groups of NETLINK_ROUTE (linux/rtnetlink.h): links (up, down, made, gone) and addresses. */
const RTMGRP_LINK = 0x1;
const RTMGRP_IPV4_IFADDR = 0x10;
const RTMGRP_IPV6_IFADDR = 0x100;

/** Where a link's socket takes its source address from. */
export interface SourceBinding {
  bindhost?: string;
  bindinterface?: string;
}

/** The addresses of each interface that is up, as the OS lists them (os.networkInterfaces()). */
export type Interfaces = ReturnType<typeof networkInterfaces>;

/** Whether a source address can reach a peer of this family: IPv6 link-local ones reach only their link. */
function usable(address: string, family: 4 | 6): boolean {
  if (family === 4) return isIP(address) === 4;
  return isIP(address) === 6 && !/^fe[89ab]/i.test(address);
}

const WILDCARD = new Set(["0.0.0.0", "::"]);

/**
 * Why a socket bound as `b` has no source address for a peer of `family` now, or undefined when
 * it has one (or is bound to neither an address nor an interface, or to a name: nothing to check).
 * An interface that is down has none: the OS does not list its addresses.
 */
export function sourceGone(b: SourceBinding, family: 4 | 6, interfaces: Interfaces): string | undefined {
  if (b.bindinterface !== undefined) {
    const mine = interfaces[b.bindinterface] ?? [];
    const at = b.bindhost !== undefined && isIP(b.bindhost) !== 0 && !WILDCARD.has(b.bindhost) ? normal(b.bindhost) : undefined;
    if (mine.some((a) => (at !== undefined ? normal(a.address) === at : usable(a.address, family)))) return undefined;
    return at !== undefined ? `bindhost ${b.bindhost} is not an address of interface ${b.bindinterface}` : `interface ${b.bindinterface} has no usable IPv${family} address (none, or it is down)`;
  }
  if (b.bindhost === undefined || isIP(b.bindhost) === 0 || WILDCARD.has(b.bindhost)) return undefined;
  const at = normal(b.bindhost);
  for (const list of Object.values(interfaces)) if (list?.some((a) => normal(a.address) === at)) return undefined;
  return `bindhost ${b.bindhost} is not an address of this machine`;
}

/** One spelling per address: IPv6 lower-case and compressed as the URL parser writes it. */
function normal(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase();
  }
}

/** A NETLINK_ROUTE socket told of every change of an address or an interface. */
export interface AddressWatch {
  /** Polled for reading beside the links' sockets. */
  readonly fd: number;
  /** Reads what the kernel sent (up to `max` messages); `changed` is called once when there was any. */
  drain(max: number): number;
  close(): void;
}

/** Opens the watch; throws a SysError when the socket cannot be made (no netlink). */
export function openAddressWatch(changed: () => void): AddressWatch {
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  try {
    // struct sockaddr_nl: family (u16), pad (u16), pid (u32, 0: the kernel assigns one), groups (u32).
    const sa = new Uint8Array(12);
    const view = new DataView(sa.buffer);
    view.setUint16(0, AF_NETLINK, true);
    view.setUint32(8, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, true);
    bind(fd, sa, "netlink route groups");
  } catch (e) {
    close(fd);
    throw e;
  }
  // Only that something changed matters: what is read is not parsed (the addresses are listed again).
  const buf = new Uint8Array(new ArrayBuffer(8192));
  let closed = false;
  return {
    fd,
    drain(max) {
      let n = 0;
      let any = false;
      while (n < max && !closed) {
        const r = tryRecv(fd, buf);
        if (r === -Errno.EINTR) continue;
        // ENOBUFS: messages were lost; something changed all the same.
        if (r === -Errno.ENOBUFS) any = true;
        if (r < 0 && r !== -Errno.ENOBUFS) break;
        if (r >= 0) any = true;
        n++;
      }
      if (any) changed();
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      close(fd);
    },
  };
}
