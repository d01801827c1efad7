/**
 * What a reload changes: the running Config against the one just read. Links are matched by
 * section name (a renamed section is one link removed and another added). Pure: the daemon
 * applies the result (src/reload.ts).
 *
 * Unlike the C MLVPN (README.md, "Reload"), a link whose addresses did not change is never bounced,
 * address changes really take effect (new socket, new handshake), and timeout is reloaded too.
 */
import { GENERAL_DOCS } from "./reference.ts";
import type { Config, GeneralConfig, LinkConfig } from "./schema.ts";

/** Link keys applied to the running link, without a new handshake. */
export const IN_PLACE_LINK_KEYS = ["bandwidth_upload", "timeout", "loss_tolerence", "latency_tolerence", "fallback_only", "bindfib", "priority"] as const;
/** Link keys that need a new socket and a new handshake. */
export const REBIND_LINK_KEYS = ["bindhost", "bindinterface", "bindport", "socket_buffer", "remotehost", "remoteport"] as const;
/** A server's remotehost/remoteport are only shown in the status: no new socket for them. */
const SERVER_REBIND_KEYS = ["bindhost", "bindinterface", "bindport", "socket_buffer"] as const;
const SERVER_IN_PLACE_KEYS = [...IN_PLACE_LINK_KEYS, "remotehost", "remoteport"] as const;

/**
 * [general] keys whose change takes effect without a restart (those not marked start-only in
 * the reference): the link defaults, which reach the links through their own values (each link
 * section inherits them), so they show up in the link diff. The others are read once: the tun
 * device (interface_name, tuntap, mtu), the keys and framing (mode, password, cipher,
 * cleartext_data), the receive side (reorder_buffer_size), the control sockets, and the status
 * script and its environment (held by the process that runs the script).
 */
export const LIVE_GENERAL_KEYS: readonly string[] = GENERAL_DOCS.filter((d) => !d.startOnly).map((d) => d.key);

export interface LinkChange {
  name: string;
  before: LinkConfig;
  after: LinkConfig;
  /** The keys whose value changed. */
  keys: string[];
}

export interface ConfigDiff {
  /** New links, in the new file's order. */
  added: LinkConfig[];
  /** Links no longer in the file, in the old file's order. */
  removed: LinkConfig[];
  /** Only in-place keys changed. */
  updated: LinkChange[];
  /** An address or port changed (other keys may have changed too). */
  rebound: LinkChange[];
  /** [general] keys that changed and apply live. */
  liveGeneral: string[];
  /** [general] keys that changed and are only read at start-up. */
  needsRestart: string[];
  /** True when the running link order differs from the file's (only the status order changes). */
  reordered: boolean;
}

function changedKeys<T extends object>(before: T, after: T, keys: readonly (keyof T & string)[]): string[] {
  return keys.filter((k) => !sameValue(before[k], after[k]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  return a === b;
}

export function diffConfig(before: Config, after: Config): ConfigDiff {
  const oldByName = new Map(before.links.map((l) => [l.name, l]));
  const newNames = new Set(after.links.map((l) => l.name));
  const diff: ConfigDiff = { added: [], removed: [], updated: [], rebound: [], liveGeneral: [], needsRestart: [], reordered: false };

  const server = after.general.mode === "server";
  for (const l of after.links) {
    const old = oldByName.get(l.name);
    if (!old) {
      diff.added.push(l);
      continue;
    }
    const rebind = changedKeys(old, l, server ? SERVER_REBIND_KEYS : REBIND_LINK_KEYS);
    const inPlace = changedKeys(old, l, server ? SERVER_IN_PLACE_KEYS : IN_PLACE_LINK_KEYS);
    if (rebind.length > 0) diff.rebound.push({ name: l.name, before: old, after: l, keys: [...rebind, ...inPlace] });
    else if (inPlace.length > 0) diff.updated.push({ name: l.name, before: old, after: l, keys: inPlace });
  }
  for (const l of before.links) if (!newNames.has(l.name)) diff.removed.push(l);

  const kept = after.links.filter((l) => oldByName.has(l.name)).map((l) => l.name);
  const keptBefore = before.links.filter((l) => newNames.has(l.name)).map((l) => l.name);
  diff.reordered = !sameValue(kept, keptBefore);

  const generalKeys = [...new Set([...Object.keys(before.general), ...Object.keys(after.general)])] as (keyof GeneralConfig & string)[];
  for (const k of changedKeys(before.general, after.general, generalKeys)) {
    (LIVE_GENERAL_KEYS.includes(k) ? diff.liveGeneral : diff.needsRestart).push(k);
  }
  return diff;
}

/** True when nothing at all would change. */
export function isEmptyDiff(d: ConfigDiff): boolean {
  return d.added.length + d.removed.length + d.updated.length + d.rebound.length + d.liveGeneral.length + d.needsRestart.length === 0 && !d.reordered;
}
