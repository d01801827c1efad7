/**
 * systemd's notification protocol (sd_notify(3)): newline-separated `KEY=value` assignments in
 * one datagram to the unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
 * socket). A `Type=notify` unit counts as started when READY=1 arrives, so mlvpn sends it only
 * once the tun device exists and every link socket is bound (the C MLVPN sent it before parsing
 * its configuration, docs/c-mlvpn.md, "Weaknesses" #21).
 *
 * Without `$NOTIFY_SOCKET` (not started by systemd) every call does nothing. Each returns
 * undefined, or a one-line reason when the message could not be sent.
 */
import { monotonicMicros, strerror } from "./libc.ts";
import { UnixDatagramSocket, unixAddress } from "./unix-dgram.ts";

let socket: UnixDatagramSocket | undefined;

/** Sends `state` (e.g. "READY=1\nSTATUS=…") to the service manager, if there is one. */
export function sdNotify(state: string, env: Record<string, string | undefined> = process.env): string | undefined {
  const target = env.NOTIFY_SOCKET;
  if (!target) return undefined;
  if (!target.startsWith("/") && !target.startsWith("@")) return `NOTIFY_SOCKET=${target}: only unix socket paths and @abstract names are supported`;
  let address: Uint8Array;
  try {
    address = unixAddress(target);
    socket ??= UnixDatagramSocket.open();
  } catch (e) {
    return `NOTIFY_SOCKET=${target}: ${(e as Error).message}`;
  }
  const err = socket.send(new TextEncoder().encode(state), address);
  return err === 0 ? undefined : `NOTIFY_SOCKET=${target}: ${strerror(err)}`;
}

/** Status text for `systemctl status`: one line, no control characters. */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\x00-\x1f\x7f]/g, " ")}`;
}

export const notifyReady = (status: string) => sdNotify(`READY=1\n${statusLine(status)}`);
export const notifyStatus = (status: string) => sdNotify(statusLine(status));
/** Before re-reading the configuration; `notifyReady` when done. MONOTONIC_USEC lets systemd ≥ 253 match the reload. */
export const notifyReloading = () => sdNotify(`RELOADING=1\nMONOTONIC_USEC=${monotonicMicros()}`);
export const notifyStopping = () => sdNotify("STOPPING=1");
