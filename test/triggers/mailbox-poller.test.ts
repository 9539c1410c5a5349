/**
 * One poller per mailbox (single process, injected clock): two Gmail-triggered flows reading
 * the same mailbox share one `history.list` per tick, at the smaller of their pollEvery, and
 * each gets every new message once; when the flow with the smaller interval is disabled the
 * poller slows to the other's, and when the last goes the poller goes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "../flows/support.ts";
import { clock, runsOf, settled, ticker, until } from "./support.ts";

const MIN = 60_000;

describe("one poller per mailbox", () => {
  const c = clock(Date.parse("2026-03-02T08:00:00Z"));
  let w: FlowWorld;

  beforeAll(async () => {
    w = await flowWorld({ deps: { triggers: { now: c.now } } });
  });
  afterAll(() => w?.close());

  const tick = async (ms: number) => {
    c.advance(ms);
    await ticker(w.t.app).check();
  };
  const copyFlow = async (src: { connectionId: string }, dst: { connectionId: string }, pollEvery: string) => {
    const res = await w.a.post("/v1/flows", {
      name: `mail ${Math.random().toString(36).slice(2, 8)}`,
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"], pollEvery },
    });
    expect(res.statusCode, res.body).toBe(201);
    await ticker(w.t.app).check();
    return res.json().id as string;
  };
  const poller = async (email: string) => (await w.t.store.db.query<{ every_ms: string | number }>("SELECT every_ms FROM gmail_pollers WHERE email = $1", [email]))[0];
  const historyCalls = async (email: string) => (await w.google.admin("GET", "/stats")).users[email] ?? { requests: 0, quotaUnits: 0 };

  it("makes one history.list per tick for two flows on one mailbox, and both get each new message once", async () => {
    const src = await w.mailbox({ generate: 2 });
    const dstA = await w.mailbox();
    const dstB = await w.mailbox();
    const a = await copyFlow(src, dstA, "5m");
    const b = await copyFlow(src, dstB, "2m");
    expect(Number((await poller(src.email))!.every_ms)).toBe(2 * MIN);
    const [viewA, viewB] = [(await w.a.get(`/v1/flows/${a}`)).json(), (await w.a.get(`/v1/flows/${b}`)).json()];
    expect(viewA.nextRunAt).toBeTruthy();
    expect(viewA.nextRunAt).toBe(viewB.nextRunAt); // the mailbox poller's next tick

    await w.google.admin("POST", "/stats/reset", {});
    for (let i = 0; i < 3; i++) await tick(2 * MIN);
    // Nothing arrived: one history.list (2 units) per tick for both flows.
    expect(await historyCalls(src.email)).toMatchObject({ requests: 3, quotaUnits: 6 });

    const subjects = ["one", "two", "three"];
    await w.google.admin("POST", `/users/${src.email}/messages`, { messages: subjects.map((subject) => ({ raw: rawMessage({ to: src.email, subject }), labelIds: ["INBOX"] })) });
    await w.google.admin("POST", "/stats/reset", {});
    await tick(2 * MIN);
    for (const [id, dst] of [[a, dstA], [b, dstB]] as const) {
      const runs = await until(async () => ((r) => r.length === 1 && settled(r) && r)(await runsOf(w, id)), "one settled run");
      expect(runs[0]).toMatchObject({ trigger: "poll", status: "succeeded", progress: { exported: 3, imported: 3 } });
      expect((await w.user(dst.email)).messages.map((m) => m.subject).sort()).toEqual([...subjects].sort());
    }
    await tick(2 * MIN);
    expect((await runsOf(w, a)).length + (await runsOf(w, b)).length).toBe(2);

    // The 2m flow disabled: the poller slows to 5m; both gone: no poller.
    expect((await w.a.patch(`/v1/flows/${b}`, { enabled: false })).statusCode).toBe(200);
    expect(Number((await poller(src.email))!.every_ms)).toBe(5 * MIN);
    expect((await w.a.patch(`/v1/flows/${a}`, { enabled: false })).statusCode).toBe(200);
    expect(await poller(src.email)).toBeUndefined();
    await w.google.admin("POST", "/stats/reset", {});
    await tick(10 * MIN);
    expect((await historyCalls(src.email)).requests).toBe(0);
  });
});
