/** Protocol names and numbers the filter compiler knows (src/filter/compile.ts and its parts). */

export const PROTO_NUMBERS = new Map<string, number>([
  ["ip", 0], ["hopopt", 0], ["icmp", 1], ["igmp", 2], ["ggp", 3], ["ipencap", 4], ["st", 5], ["tcp", 6], ["egp", 8], ["igp", 9],
  ["pup", 12], ["udp", 17], ["hmp", 20], ["xns-idp", 22], ["rdp", 27], ["iso-tp4", 29], ["dccp", 33], ["xtp", 36], ["ddp", 37],
  ["idpr-cmtp", 38], ["ipv6", 41], ["ipv6-route", 43], ["ipv6-frag", 44], ["idrp", 45], ["rsvp", 46], ["gre", 47], ["esp", 50],
  ["ah", 51], ["skip", 57], ["ipv6-icmp", 58], ["icmp6", 58], ["ipv6-nonxt", 59], ["ipv6-opts", 60], ["rspf", 73], ["vmtp", 81],
  ["eigrp", 88], ["ospf", 89], ["ax.25", 93], ["ipip", 94], ["etherip", 97], ["encap", 98], ["pim", 103], ["ipcomp", 108],
  ["vrrp", 112], ["l2tp", 115], ["isis", 124], ["sctp", 132], ["fc", 133], ["mobility-header", 135], ["udplite", 136],
  ["mpls-in-ip", 137], ["manet", 138], ["hip", 139], ["shim6", 140], ["wesp", 141], ["rohc", 142], ["ethernet", 143],
]);
export const ETHER_PROTOS = new Map<string, number>([["ip", 0x0800], ["ip6", 0x86dd], ["arp", 0x0806], ["rarp", 0x8035], ["loopback", 0x9000]]);

/** Transport protocols reached through the IPv4 header length (`tcp[…]`, `udp[…]`…). */
export const TRANSPORT = new Map<string, number>([
  ["tcp", 6], ["udp", 17], ["icmp", 1], ["igmp", 2], ["igrp", 9], ["pim", 103], ["vrrp", 112], ["carp", 112], ["sctp", 132],
]);
/** How a protocol name alone reads: IP protocol number and which IP versions it covers. */
export const ABBREV_PROTO = new Map<string, { v: number; on: "default" | "ip" | "ip6" }>([
  ["tcp", { v: 6, on: "default" }], ["udp", { v: 17, on: "default" }], ["sctp", { v: 132, on: "default" }],
  ["icmp", { v: 1, on: "ip" }], ["icmp6", { v: 58, on: "ip6" }], ["igmp", { v: 2, on: "ip" }], ["igrp", { v: 9, on: "ip" }],
  ["pim", { v: 103, on: "default" }], ["vrrp", { v: 112, on: "ip" }], ["carp", { v: 112, on: "ip" }],
  ["ah", { v: 51, on: "default" }], ["esp", { v: 50, on: "default" }],
]);

export const TUN_HINT = "no link-layer header in tun mode (raw IP packets)";
