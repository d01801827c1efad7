/**
 * A blackout is a failure, not loss (docs/protocol.md "Timing"): after one link was blackholed
 * for a few seconds and is restored, it must not stay "lossy" (loss_tolerence) for the seconds its
 * loss window remembers the packets the blackout ate — whichever way the blackout ended (the
 * link stalled and answered again, a new handshake after its silence, or down and up again).
 * Found by `npm run chaos` (flaps): 2-3 s blackholes of a link carrying little traffic left it
 * lossy for 2-4 s after the restore; an interface down for 2.8 s, 3.6 s.
 */
import { describe, expect, test } from "bun:test";
import { LinkStatus } from "../../src/core/link.ts";
import { numberedPacket, SimPair } from "./simnet.ts";

/** A ping-like exchange, 50 per second each way, for `ms`. */
function pings(sim: SimPair, ms: number, from = 0): number {
  let id = from;
  const end = sim.now + ms;
  while (sim.now < end) {
    sim.client.handleTunPacket(numberedPacket(id++, 84), sim.now);
    sim.server.handleTunPacket(numberedPacket(id++, 84), sim.now);
    sim.run(sim.now + 20);
  }
  return id;
}

describe("a blackout does not leave the link lossy", () => {
  for (const [kind, outageMs] of [["blackhole", 1200], ["blackhole", 2663], ["blackhole", 4500], ["blackhole", 8000], ["interface down", 1200], ["interface down", 2805], ["interface down", 8000]] as const) {
    test(`${kind}, ${outageMs} ms, of one link under a light exchange: no loss counted on either end in the 2 s after the restore`, () => {
      const spec = { loss_tolerence: 50, timeout: 5, up: { delayMs: 5 }, down: { delayMs: 5 } };
      const sim = new SimPair({ links: [{ ...spec }, { ...spec }], seed: 4 });
      sim.run(2000);
      let id = pings(sim, 5000);
      sim.links[0]!.up = { delayMs: 5, cut: true };
      sim.links[0]!.down = { delayMs: 5, cut: true };
      // The client's interface gone: its next send fails and the link is down at once (the shell's linkSendFailed).
      if (kind === "interface down") sim.client.linkSendFailed(0, "no source address", sim.now);
      id = pings(sim, outageMs, id);
      sim.links[0]!.up = { delayMs: 5 };
      sim.links[0]!.down = { delayMs: 5 };
      // Each end's view of the link, every 100 ms for 2 s: its receive loss and the peer's report
      // (how the status judges it; the lab's link carried less than this one, so a high figure
      // lasted over several health ticks there).
      const worst = { loss: 0, status: [] as LinkStatus[] };
      for (let k = 0; k < 20; k++) {
        id = pings(sim, 100, id);
        for (const end of [sim.client, sim.server]) {
          const l = end.links[0]!;
          worst.loss = Math.max(worst.loss, l.loss.percent() ?? 0, l.peerLossPercent ?? 0);
          if (l.isUp && l.status !== LinkStatus.AuthOk && !worst.status.includes(l.status)) worst.status.push(l.status);
        }
      }
      expect(worst).toEqual({ loss: 0, status: [] });
    });
  }
});
