/**
 * Gmail push in queue mode: two service processes on one PostgreSQL and Redis behind a
 * round-robin balancer that the emulator's Pub/Sub pushes to, so hints for one mailbox land in
 * both. Every message arriving (one notification each, none folded) is delivered once; both
 * processes renewing at the same moment make one `users.watch` call between them.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.ts";
import { postgresBackend } from "../support/db.ts";
import { testDatabaseUrl, testRedisUrl, uniqueName } from "../support/services.ts";
import { flowWorld, PUBLIC_URL, rawMessage, type FlowWorld } from "../flows/support.ts";
import { clock, runsOf, settled, until } from "./support.ts";

const TOPIC = "projects/mb-test/topics/gmail";

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("Gmail push in queue mode (PostgreSQL, Redis/BullMQ, two processes)", () => {
  const prefix = uniqueName("mbpush");
  const redisClients: Redis[] = [];
  const queueEnv = () => ({ REDIS_URL: testRedisUrl!, REDIS_PREFIX: prefix, GMAIL_PUSH_TOPIC: TOPIC });
  const c = clock(Date.now());
  const received = { a: 0, b: 0 };
  let w: FlowWorld;
  let b: TestApp;
  let balancer: http.Server;

  const listen = async (app: TestApp) => {
    await app.app.listen({ port: 0, host: "127.0.0.1" });
    return `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    const redis = new Redis(testRedisUrl!);
    redisClients.push(redis);
    w = await flowWorld({ backend: postgresBackend!, env: queueEnv(), deps: { redis, triggers: { now: c.now } } });
    const redisB = new Redis(testRedisUrl!);
    redisClients.push(redisB);
    b = await startTestApp({ store: w.t.store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env, ...queueEnv() }, deps: { redis: redisB, triggers: { now: c.now } } });
    const targets = [await listen(w.t), await listen(b)];
    let next = 0;
    balancer = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", async () => {
        const i = next++ % 2;
        received[i === 0 ? "a" : "b"] += 1;
        const out = await fetch(`${targets[i]}${req.url}`, { method: "POST", headers: { "content-type": "application/json", authorization: req.headers.authorization ?? "" }, body });
        res.statusCode = out.status;
        res.end(await out.text());
      });
    });
    await new Promise<void>((r) => balancer.listen(0, "127.0.0.1", r));
    await w.google.admin("PUT", "/pubsub", {
      topic: TOPIC,
      pushEndpoint: `http://127.0.0.1:${(balancer.address() as AddressInfo).port}/hooks/gmail`,
      audience: `${PUBLIC_URL}/hooks/gmail`,
      notifyIntervalMs: 0,
      minBackoffMs: 50,
      maxBackoffMs: 500,
    });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await w?.close();
    await new Promise((r) => balancer?.close(r));
    const admin = new Redis(testRedisUrl!);
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
    for (const r of redisClients) await r.quit();
  });

  it("delivers each message once when its notifications land in both processes, and renews the watch once", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const res = await w.a.post("/v1/flows", {
      name: "push in queue mode",
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"] },
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().id as string;
    expect(res.json().watch).toMatchObject({ mode: "push", expiresAt: expect.any(String) });

    const subjects = Array.from({ length: 20 }, (_, i) => `queued push ${String(i).padStart(2, "0")}`);
    for (const subject of subjects) {
      await w.google.admin("POST", `/users/${encodeURIComponent(src.email)}/messages`, { raw: rawMessage({ to: src.email, subject }) });
    }
    await until(async () => (await w.user(dst.email)).messages.length >= 20 && settled(await runsOf(w, id)), "all 20 delivered", 30_000);
    await until(async () => (await w.google.admin("GET", "/pubsub")).pending === 0, "every push acknowledged");
    await until(async () => (await w.t.store.db.query("SELECT 1 FROM gmail_push_hints")).length === 0, "every hint handled");
    // A push handled while a run went folds into a follow-up run (which finds nothing new): wait for it too.
    await until(
      async () => (await w.t.store.db.query("SELECT 1 FROM flow_triggers WHERE flow_id = $1 AND pending_trigger IS NOT NULL", [id])).length === 0 && settled(await runsOf(w, id)),
      "no follow-up pending",
    );
    expect(received.a).toBeGreaterThan(0);
    expect(received.b).toBeGreaterThan(0);
    const got = (await w.user(dst.email)).messages.map((m) => m.subject).sort();
    expect(got).toEqual(subjects); // each once
    const runs = await runsOf(w, id);
    expect(runs.every((r) => r.status === "succeeded"), JSON.stringify(runs)).toBe(true);
    expect(runs.reduce((n, r) => n + r.progress.imported, 0), JSON.stringify(runs)).toBe(20);
    console.info(`queue-mode push: ${received.a + received.b} pushes (${received.a} to a, ${received.b} to b), ${runs.length} runs (${runs.map((r) => r.trigger).join(",")})`);

    await w.google.admin("POST", "/stats/reset", {});
    c.advance(25 * 3_600_000);
    await Promise.all([w.t.app.triggers.push.reconcile(), b.app.triggers.push.reconcile()]);
    expect((await w.google.admin("GET", "/stats")).users[src.email]?.quotaUnits).toBe(100); // one users.watch
  }, 60_000);
});
