/**
 * Roaming (src/core/peers.ts `roam`): a server's link moves only away from an address gone
 * silent. An authenticated exchange from the link's own peer (a rekey's handshake, whose INIT
 * came from there) says the peer is alive, even when nothing else came for a while.
 */
import { describe, expect, test } from "bun:test";
import { Link } from "../../src/core/link.ts";
import { roam } from "../../src/core/peers.ts";
import { silenceMs } from "../../src/core/health.ts";
import { linkConfig } from "../sim/simnet.ts";

const client = { address: "192.168.1.2", port: 40000 };
const attacker = { address: "203.0.113.66", port: 7000 };

describe("roam", () => {
  test("a handshake from the peer after a long cut keeps the next packet from elsewhere from moving the link", () => {
    const link = new Link(0, linkConfig({}, 0), 1432, 0);
    link.movePeer(client, 0);
    // A cut far longer than the silence time, then the client's rekey: its INIT came from `client`.
    const back = 10 * silenceMs(link);
    expect(roam(link, client, back)).toBeUndefined();
    // The first packet of the new session arrives first from the attacker (a faster relay).
    expect(roam(link, attacker, back + 5)).toBeUndefined();
    expect(link.isPeer(client)).toBe(true);
  });

  test("an address really gone silent is left (NAT rebinding)", () => {
    const link = new Link(0, linkConfig({}, 0), 1432, 0);
    link.movePeer(client, 0);
    const rebound = { address: "192.168.1.2", port: 40999 };
    expect(roam(link, rebound, 2 * silenceMs(link))).toEqual(client);
    expect(link.isPeer(rebound)).toBe(true);
  });
});
