/**
 * A link made lossy or slow by `loss_tolerence` / `latency_tolerence`, and back, is logged as a
 * warning naming the tolerance (it was a debug line, so an operator saw a link stop carrying
 * data with nothing in the log); MLVPN runs no status script for these changes, nor do we.
 */
import { describe, expect, test } from "bun:test";
import { LinkStatus } from "../../src/core/link.ts";
import type { TunnelEvent } from "../../src/core/tunnel.ts";
import { eventHandler, type Hooks, toleranceChange } from "../../src/daemon/hooks.ts";
import type { Logger } from "../../src/log.ts";

type StatusEvent = Extract<TunnelEvent, { type: "link-status" }>;
const change = (status: number, previous: number, tolerances: { loss?: number; latency?: number } = { loss: 50, latency: 300 }): StatusEvent =>
  ({ type: "link-status", link: 1, status, previous, lossTolerancePercent: tolerances.loss, latencyToleranceMs: tolerances.latency }) as StatusEvent;

function handler() {
  const lines: string[] = [];
  const runs: string[][] = [];
  const log: Logger = {
    error: (t, m) => lines.push(`error ${t} ${m}`),
    warn: (t, m) => lines.push(`warn ${t} ${m}`),
    info: (t, m) => lines.push(`info ${t} ${m}`),
    debug: (t, m) => lines.push(`debug ${t} ${m}`),
  };
  const hooks: Hooks = { run: (a) => void runs.push(a), idle: async () => {} };
  const handle = eventHandler(hooks, { device: "mlvpn0", nameOf: (i) => ["adsl1", "adsl2"][i]!, reconnecting: () => {}, gone: () => {} }, log);
  return { lines, runs, handle };
}

describe("tolerance changes in the log", () => {
  test("lossy and back, slow and back: a warning each, naming the tolerance; no status script", () => {
    const h = handler();
    h.handle(change(LinkStatus.Lossy, LinkStatus.AuthOk));
    h.handle(change(LinkStatus.AuthOk, LinkStatus.Lossy));
    h.handle(change(LinkStatus.HighLatency, LinkStatus.AuthOk));
    h.handle(change(LinkStatus.AuthOk, LinkStatus.HighLatency));
    expect(h.lines).toEqual([
      "warn protocol [adsl2] lossy link: the measured loss reached loss_tolerence (50 %); no data goes on it while a healthy link is up",
      "warn protocol [adsl2] loss below loss_tolerence (50 %) again: in use",
      "warn protocol [adsl2] slow link: the smoothed RTT reached latency_tolerence (300 ms); no data goes on it while a healthy link is up",
      "warn protocol [adsl2] smoothed RTT below latency_tolerence (300 ms) again: in use",
    ]);
    expect(h.runs).toEqual([]);
  });

  test("other changes stay debug lines (the link-up and link-down lines already say them)", () => {
    const h = handler();
    h.handle(change(LinkStatus.AuthSent, LinkStatus.Disconnected));
    h.handle(change(LinkStatus.AuthOk, LinkStatus.AuthSent));
    expect(h.lines).toEqual(["debug protocol [adsl2] waiting peer", "debug protocol [adsl2] connected"]);
  });

  test("a tolerance turned off by a reload reads as off", () => {
    expect(toleranceChange(change(LinkStatus.AuthOk, LinkStatus.Lossy, {}))).toBe("loss below loss_tolerence (off) again: in use");
    expect(toleranceChange(change(LinkStatus.AuthOk, LinkStatus.HighLatency, {}))).toBe("smoothed RTT below latency_tolerence (off) again: in use");
  });

  test("the same change gives the same text, so that a link crossing a tolerance again and again collapses in the log", () => {
    expect(toleranceChange(change(LinkStatus.Lossy, LinkStatus.AuthOk))).toBe(toleranceChange(change(LinkStatus.Lossy, LinkStatus.AuthOk)));
  });
});
