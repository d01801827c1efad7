/** The plain types of a link that its readers outside the core (status, process title) share. */

/** MLVPN's link states (docs/c-mlvpn.md, "Link states"); the strings are those of its /status JSON. */
export const LinkStatus = {
  Disconnected: 0,
  AuthSent: 1,
  AuthOk: 2,
  Lossy: 3,
  HighLatency: 4,
} as const;
export type LinkStatus = (typeof LinkStatus)[keyof typeof LinkStatus];
export const STATUS_TEXT: Record<LinkStatus, string> = ["disconnected", "waiting peer", "connected", "lossy link", "slow link"];

export interface PeerAddress {
  address: string;
  port: number;
}

export interface LinkCounters {
  sentPackets: number;
  sentBytes: number;
  recvPackets: number;
  recvBytes: number;
  disconnects: number;
}
