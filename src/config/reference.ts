/**
 * Documentation of every configuration key, the source of the README's config reference
 * (`bun scripts/gen-config-doc.ts`). A test checks that it lists exactly the schema's keys and
 * that the README is up to date.
 */

export interface KeyDoc {
  key: string;
  type: string;
  default: string;
  /** Read only at start-up: a reload reports a change as "needs restart" (src/config/diff.ts). */
  startOnly?: boolean;
  doc: string;
}

export const GENERAL_DOCS: KeyDoc[] = [
  { key: "mode", type: '"client" or "server"', default: "**required**", startOnly: true, doc: "Which end this is. The client connects out over each link; the server listens." },
  { key: "password", type: "string", default: "**required**", startOnly: true, doc: "Shared secret, the same on both ends. Quote it if it contains spaces or `#`. Never printed or logged." },
  { key: "statuscommand", type: "path", default: "none", startOnly: true, doc: "Script run on link and tunnel events (`rtun_up`, `rtun_down`, `tuntap_up`, `tuntap_down`). Must exist, be executable by its owner, have no group/other permissions (`chmod 700`) and be owned by root or the user running mlvpn." },
  { key: "interface_name", type: "string (≤ 15 chars)", default: '"mlvpn0"', startOnly: true, doc: "Name of the tun/tap interface." },
  { key: "tuntap", type: '"tun" or "tap"', default: '"tun"', startOnly: true, doc: "Layer 3 (tun, IP packets) or layer 2 (tap, Ethernet frames)." },
  { key: "control_unix_path", type: "path", default: "off", startOnly: true, doc: "Unix socket of the control interface." },
  { key: "control_bind_host", type: "host", default: "off", startOnly: true, doc: "Address of the HTTP control interface (needs `control_bind_port`)." },
  { key: "control_bind_port", type: "port", default: "off", startOnly: true, doc: "Port of the HTTP control interface." },
  { key: "cleartext_data", type: "0 or 1", default: "0", startOnly: true, doc: "1 sends tunnelled packets unencrypted (still authenticated). Must match on both ends." },
  { key: "timeout", type: "seconds (≥ 2)", default: "60", doc: "A link is declared down after this long without hearing from the peer. Default for every link. Values below 2 are read as 2." },
  { key: "reorder_buffer_size", type: "packets (0–65536)", default: "0 (off)", startOnly: true, doc: "Receive-side reordering of packets that arrive out of order across links; the buffer holds at least this many packets past a hole, more when links of unequal delay need it (what arrives within the hold time, up to 2048 packets, or this size rounded up to a power of two if larger). With it or without it (0), mlvpn equalises delays: a packet that came over a faster link waits the difference of one-way delays to the slowest link carrying data, so that a stream over links of unequal delay reaches the LAN in order and TCP sees the aggregate's RTT from its first packet (without equalisation a BBR stream stays near one link's rate, and a stream without a reorder buffer cannot use a slower link at all); without a buffer, a packet that still comes after later-numbered ones goes on at once and lengthens the others' waits by its lateness. Small TCP segments with data (and SYNs) take the sequenced path, not the express lane. Costs bulk traffic the delay spread; pings, DNS, VoIP and pure TCP acknowledgements keep the fastest link. See docs/scheduler.md." },
  { key: "loss_tolerence", type: "percent (0–100)", default: "100 (off)", doc: "A link losing this share of packets or more is marked lossy and avoided. Default for every link. MLVPN's spelling; `loss_tolerance` is accepted with a warning." },
  { key: "latency_tolerence", type: "milliseconds (≤ 1000)", default: "1000 (off)", doc: "A link whose smoothed RTT reaches this value is marked slow and avoided. Default for every link. 1000 turns the check off." },
  { key: "ip4", type: "string", default: "empty", startOnly: true, doc: "Handed to the status script as `IP4` (e.g. `10.42.42.2/30`)." },
  { key: "ip6", type: "string", default: "empty", startOnly: true, doc: "Handed to the status script as `IP6`." },
  { key: "ip4_gateway", type: "string", default: "empty", startOnly: true, doc: "Handed to the status script as `IP4_GATEWAY`." },
  { key: "ip6_gateway", type: "string", default: "empty", startOnly: true, doc: "Handed to the status script as `IP6_GATEWAY`." },
  { key: "ip4_routes", type: "space-separated list", default: "empty", startOnly: true, doc: "Handed to the status script as `IP4_ROUTES`. In TOML also a list of strings." },
  { key: "ip6_routes", type: "space-separated list", default: "empty", startOnly: true, doc: "Handed to the status script as `IP6_ROUTES`. In TOML also a list of strings." },
  { key: "mtu", type: "bytes (68–9000)", default: "1432 for the script", startOnly: true, doc: "Handed to the status script as `MTU` (1432 when unset, as in MLVPN)." },
  { key: "redundant", type: "pcap-filter expression", default: "none", doc: 'mlvpn only. Packets read from the tun that match (e.g. `"udp port 5060 or udp portrange 10000-20000"`) are sent at once on `redundant_copies` links, those where they arrive first, and the peer delivers the first copy: a call or a game loses nothing when one link dies. Copies skip the queues within 25 % of the capacity of their links. Set it on both ends for both directions. Errors name the offending token. Reloaded on SIGHUP. See [Redundant mode](#redundant-mode).' },
  { key: "redundant_copies", type: "2–32, at most the number of links", default: "2", doc: "mlvpn only. On how many links each `redundant` packet is sent (fewer while fewer links can send)." },
  { key: "cipher", type: '"aes-256-gcm" or "chacha20poly1305"', default: '"aes-256-gcm"', startOnly: true, doc: "mlvpn only. AEAD for the tunnel; choose chacha20poly1305 on CPUs without AES instructions. Must match on both ends." },
  { key: "rekey_interval", type: "seconds (10–120)", default: "120", startOnly: true, doc: "mlvpn only. How often the client renews each link's keys with a new handshake (forward secrecy: a key stolen from memory opens at most this much traffic). Read by the client; a server answers whatever its client does and never uses a session past 180 s. Each renewal costs about 0.2 ms of CPU per link and end more than protocol v1's did (README, Handshake)." },
];

export const LINK_DOCS: KeyDoc[] = [
  { key: "bindhost", type: "host", default: "all addresses", doc: "Local address of the link's UDP socket. On a client this picks the uplink (with source routing); on a server, unset means all addresses (the C MLVPN never bound it). A client link whose address is not there (yet) waits for it and binds when it appears (PPPoE, DHCP)." },
  { key: "bindinterface", type: "interface name", default: "none", doc: "mlvpn only. Network interface the link's socket is bound to (`SO_BINDTODEVICE`), e.g. `wwan0` or `pppoe-wan`: its packets leave through it, from whatever address it has now (without `bindhost`), and none while it has no address of the server's family. The link survives the address changing and the interface going away and coming back, without a restart." },
  { key: "socket_buffer", type: "bytes (4096–67108864)", default: "4194304 (4 MiB)", doc: "mlvpn only. Receive and send buffer of the link's UDP socket (`SO_RCVBUF`/`SO_SNDBUF`; as root beyond `net.core.rmem_max`). Smaller saves memory on a small router, at the cost of datagrams dropped by the kernel in bursts; a change rebinds the link." },
  { key: "bindport", type: "port", default: "server: **required**; client: any", doc: "Local UDP port. Required on a server; optional on a client." },
  { key: "bindfib", type: "number", default: "0", doc: "FreeBSD/OpenBSD routing table; no effect on Linux (warning)." },
  { key: "remotehost", type: "host", default: "client: **required**", doc: "Server address for this link (name, IPv4 or IPv6). Display only on a server." },
  { key: "remoteport", type: "port", default: "client: **required**", doc: "Server UDP port for this link." },
  { key: "bandwidth_upload", type: "bytes per second", default: "0 (measured)", doc: "Upload rate of the link. mlvpn measures each link's capacity continuously; when set, this is the starting estimate and a cap (MLVPN used it as the only truth)." },
  { key: "timeout", type: "seconds (≥ 2)", default: "from [general]", doc: "As in [general], for this link." },
  { key: "loss_tolerence", type: "percent (0–100)", default: "from [general]", doc: "As in [general], for this link." },
  { key: "latency_tolerence", type: "milliseconds (≤ 1000)", default: "from [general]", doc: "As in [general], for this link." },
  { key: "fallback_only", type: "0 or 1", default: "0", doc: "1 makes this a backup link, used only while no other link is up." },
  { key: "priority", type: "0–255", default: "0", doc: "mlvpn only. Lower is preferred: traffic goes to the links of the best priority and spills onto the next priority only for what those cannot carry in time (their queue is full), or while they are all down or stalled. `[filters]` matches ignore it. See [Link priorities](#link-priorities)." },
];

function table(docs: KeyDoc[]): string {
  const rows = docs.map((d) => `| \`${d.key}\` | ${d.type} | ${d.default} | ${d.startOnly ? "yes" : ""} | ${d.doc} |`);
  return ["| key | type | default | start only | meaning |", "|---|---|---|---|---|", ...rows].join("\n");
}

/** The Markdown of the README's reference tables. */
export function referenceMarkdown(): string {
  return [
    "#### `[general]`",
    "",
    table(GENERAL_DOCS),
    "",
    "#### Link sections (`[adsl1]`, any name but `general` and `filters`)",
    "",
    table(LINK_DOCS),
    "",
    "#### `[filters]`",
    "",
    '`LINKNAME = "pcap-filter expression"`, as many as wanted, several per link (TOML: a string or a list of strings). Each packet read from the tun is checked against them in file order; the first match whose link is up is sent on that link, bypassing the scheduler and `fallback_only`; a match on a link that is down is skipped; no match: normal scheduling. The expression language is tcpdump\'s (see [Filters](#filters)); an unknown link or a bad expression is an error naming the expression and the offending token. Reloaded on SIGHUP.',
  ].join("\n");
}
