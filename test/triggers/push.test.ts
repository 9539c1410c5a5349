/**
 * "When new mail arrives" with Gmail push (GMAIL_PUSH_TOPIC set), single process: the service
 * listens on a real port and the emulator's Pub/Sub pushes to its `/hooks/gmail` over HTTP.
 * A flow watches its mailbox; mail arriving is pushed and delivered once by a `push` run
 * (the ticker's clock never moves, so no poll does it); a burst of 14 messages during a run is
 * delivered once; repeated, late and out-of-order notifications start nothing more; a hint left
 * by a crash is handled at the next start. The push JWT is checked: forged, expired, wrong
 * audience, issuer, signer or service account → 401 and nothing recorded; a malformed body →
 * 400; an address nobody watches → 204, dropped, not logged.
 *
 * Besides the emulator's key, the certs URL the service reads (a small JWKS server of this
 * test) publishes one key of the test's own, so the test can sign pushes with chosen claims.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, PUBLIC_URL, rawMessage, type FlowWorld } from "../flows/support.ts";
import { startTestApp } from "../support/app.ts";
import { clock, runsOf, settled, ticker, until } from "./support.ts";
import { MAX_TOKEN_CACHE_MS } from "../../server/oauth/token-store.ts";

const TOPIC = "projects/mb-test/topics/gmail";
const AUDIENCE = `${PUBLIC_URL}/hooks/gmail`;
const PUSHER = "gmail-push@mb-test.iam.gserviceaccount.com";

/** A signing key of the test's own, published beside the emulator's. */
function testKey() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid: randomBytes(8).toString("hex"), privateKey, publicKey };
}

function jwt(key: { kid: string; privateKey: KeyObject }, claims: Record<string, unknown>, kid = key.kid): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = enc({ alg: "RS256", kid, typ: "JWT" });
  const body = enc({ iss: "https://accounts.google.com", aud: AUDIENCE, email: PUSHER, email_verified: true, sub: "1", iat: now, exp: now + 3600, ...claims });
  return `${head}.${body}.${sign("RSA-SHA256", Buffer.from(`${head}.${body}`), key.privateKey).toString("base64url")}`;
}

const pushBody = (emailAddress: string, historyId: number | string) => ({
  message: { data: Buffer.from(JSON.stringify({ emailAddress, historyId })).toString("base64"), messageId: "1", publishTime: new Date().toISOString() },
  subscription: "projects/mb-test/subscriptions/s",
});

describe("Gmail-triggered flows, push", () => {
  const c = clock(Date.parse("2026-03-02T08:00:00Z"));
  const mine = testKey();
  let jwks: http.Server;
  let w: FlowWorld;
  let emulatorCerts = "";
  let subscription: Record<string, unknown>;

  beforeAll(async () => {
    jwks = http.createServer(async (_req, res) => {
      const own = { ...mine.publicKey.export({ format: "jwk" }), kid: mine.kid, alg: "RS256", use: "sig" };
      const theirs = (await (await fetch(emulatorCerts)).json()) as { keys: unknown[] };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [...theirs.keys, own] }));
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    const certsUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`;
    w = await flowWorld({
      env: { GMAIL_PUSH_TOPIC: TOPIC, GMAIL_PUSH_SERVICE_ACCOUNT: PUSHER, GOOGLE_CERTS_URL: certsUrl },
      deps: { triggers: { now: c.now }, flows: { recordConcurrency: 1 } },
    });
    emulatorCerts = `${w.google.baseUrl}/oauth2/v3/certs`;
    await w.t.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (w.t.app.server.address() as AddressInfo).port;
    subscription = {
      topic: TOPIC,
      pushEndpoint: `http://127.0.0.1:${port}/hooks/gmail`,
      audience: AUDIENCE,
      serviceAccountEmail: PUSHER,
      minBackoffMs: 50,
      maxBackoffMs: 500,
    };
    await w.google.admin("PUT", "/pubsub", subscription);
  });
  afterAll(async () => {
    await w?.close();
    await new Promise((r) => jwks?.close(r));
  });

  /** Mail landing in the mailbox now, announced to its watch. */
  const arrive = (email: string, subjects: string[], labelIds = ["INBOX", "UNREAD"]) =>
    w.google.admin("POST", `/users/${encodeURIComponent(email)}/messages`, { messages: subjects.map((subject) => ({ raw: rawMessage({ to: email, subject }), labelIds })) });
  const copyFlow = async (src: { connectionId: string }, dst: { connectionId: string }, trigger: Record<string, unknown> = { labelIds: ["INBOX"] }) => {
    const res = await w.a.post("/v1/flows", {
      name: `push ${Math.random().toString(36).slice(2, 8)}`,
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", ...trigger },
    });
    expect(res.statusCode, res.body).toBe(201);
    await ticker(w.t.app).check(); // the poll made on enabling: from here only pushes start runs
    return res.json().id as string;
  };
  const subjects = async (email: string) => (await w.user(email)).messages.map((m) => m.subject).sort();
  const waitRuns = (id: string, n: number) => until(async () => ((r) => r.length === n && settled(r) && r)(await runsOf(w, id)), `${n} settled runs`);
  const hook = (body: unknown, token?: string) =>
    w.t.app.inject({ method: "POST", url: "/hooks/gmail", headers: token ? { authorization: `Bearer ${token}` } : {}, payload: body as object });
  const pubsub = () => w.google.admin("GET", "/pubsub");
  const hints = async () => (await w.t.store.db.query("SELECT email, history_id FROM gmail_push_hints")).length;
  const units = async (email: string) => (await w.google.admin("GET", "/stats")).users[email]?.quotaUnits ?? 0;

  it("watches the mailbox, and mail arriving is pushed and delivered once by a push run", async () => {
    const src = await w.mailbox({ generate: 3 });
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    const view = (await w.a.get(`/v1/flows/${id}`)).json();
    expect(view.watch).toMatchObject({ mode: "push", expiresAt: expect.any(String) });
    expect(Date.parse(view.watch.expiresAt) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect(view.nextRunAt).toBe(new Date(c.t + 10 * 60_000).toISOString()); // the safety-net poll, 10 minutes with push

    await arrive(src.email, ["pushed one", "pushed two"]);
    const [run] = await waitRuns(id, 1);
    expect(run).toMatchObject({ trigger: "push", status: "succeeded", progress: { exported: 2, imported: 2, failed: 0 } });
    expect(await subjects(dst.email)).toEqual(["pushed one", "pushed two"]);
    expect((await w.a.get(`/v1/flows/${id}`)).json().watch.lastNotificationAt).toEqual(expect.any(String));
    await until(async () => (await hints()) === 0 && (await pubsub()).pending === 0, "the hint handled and the push acked");
  });

  it("keeps every mailbox watched at Google when flows on many mailboxes are enabled at once", async () => {
    // Each enabling reconciles the watches; reconciles that overlapped, each with its own view of
    // the flows, could stop at Google a watch another had just made (the row kept: no push, ever).
    const dst = await w.mailbox();
    const sources = [];
    for (let i = 0; i < 12; i++) sources.push(await w.mailbox());
    const ids = await Promise.all(
      sources.map(async (src) => {
        const res = await w.a.post("/v1/flows", {
          name: `many ${src.email}`,
          source: { connectionId: src.connectionId, export: { format: "metadata" } },
          destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
          trigger: { type: "gmail", labelIds: ["INBOX"] },
        });
        expect(res.statusCode, res.body).toBe(201);
        return res.json().id as string;
      }),
    );
    await ticker(w.t.app).check();
    for (const src of sources) expect((await w.google.admin("GET", `/users/${encodeURIComponent(src.email)}/watch`)).watch, src.email).toMatchObject({ topicName: TOPIC });
    for (const src of sources) await arrive(src.email, [`many ${src.email}`]);
    await until(async () => (await subjects(dst.email)).length === sources.length, "one message from each mailbox");
    expect(await subjects(dst.email)).toEqual(sources.map((s) => `many ${s.email}`).sort());
    for (const id of ids) expect((await w.a.delete(`/v1/flows/${id}`)).statusCode).toBeLessThan(300);
    for (const src of sources) expect((await w.google.admin("GET", `/users/${encodeURIComponent(src.email)}/watch`)).watch, src.email).toBeNull();
  });

  it("delivers 14 messages arriving during a run, each once", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    const first = Array.from({ length: 10 }, (_, i) => `first ${i}`);
    const burst = Array.from({ length: 14 }, (_, i) => `burst ${String(i).padStart(2, "0")}`);
    await w.google.admin("PUT", "/settings", { latencyMs: 80 });
    try {
      await arrive(src.email, first);
      await until(async () => (await runsOf(w, id)).find((r) => r.status === "running" && r.progress.exported >= 1), "the first run under way");
      for (const s of burst) await arrive(src.email, [s]); // 14 arrivals, pushed at most once a second
    } finally {
      await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    }
    await until(async () => (await subjects(dst.email)).length === 24 && settled(await runsOf(w, id)), "all 24 delivered");
    await until(async () => (await hints()) === 0 && (await pubsub()).pending === 0, "every push handled");
    // A push handled while a run went folds into a follow-up run (which finds nothing new): wait for it too.
    await until(async () => (await w.t.store.db.query("SELECT 1 FROM flow_triggers WHERE flow_id = $1 AND pending_trigger IS NOT NULL", [id])).length === 0 && settled(await runsOf(w, id)), "no follow-up pending");
    const runs = await runsOf(w, id);
    expect(runs.every((r) => r.trigger === "push" && r.status === "succeeded")).toBe(true);
    expect(runs.reduce((n, r) => n + r.progress.imported, 0)).toBe(24);
    expect(await subjects(dst.email)).toEqual([...first, ...burst].sort());
  });

  it("starts nothing more for repeated, late and out-of-order notifications, nor for an old historyId", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    const { historyId: before } = await w.user(src.email);
    await arrive(src.email, ["only once"]);
    await waitRuns(id, 1);
    await until(async () => (await hints()) === 0, "the hint handled");
    const { historyId: now } = await w.user(src.email);
    const spent = await units(src.email);
    // Late, repeated and out of order: the current one twice, then an older one, then one from before the flow.
    for (const h of [now, now, before, "1"]) {
      const res = await hook(pushBody(src.email, Number(h)), jwt(mine, {}));
      expect(res.statusCode, res.body).toBe(204);
    }
    await until(async () => (await hints()) === 0, "the hints handled");
    expect(await units(src.email)).toBe(spent); // not past the cursor: not even a history.list
    expect(await runsOf(w, id)).toHaveLength(1);
    expect(await subjects(dst.email)).toEqual(["only once"]);

    await arrive(src.email, ["and the next"]);
    const runs = await waitRuns(id, 2);
    expect(runs[1]).toMatchObject({ trigger: "push", progress: { exported: 1 } });
    expect(await subjects(dst.email)).toEqual(["and the next", "only once"]);
  });

  it("answers 401 to a push whose JWT does not verify, and records nothing", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    const other = testKey();
    const body = pushBody(src.email, 999_999_999);
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, string | undefined> = {
      "no token": undefined,
      "not a JWT": "abc",
      forged: jwt(other, {}), // a key nobody publishes
      "wrong signer": jwt(other, {}, mine.kid), // a published key id, signed by another key
      expired: jwt(mine, { iat: now - 7200, exp: now - 3600 }),
      "wrong audience": jwt(mine, { aud: "https://elsewhere.test/hooks/gmail" }),
      "wrong issuer": jwt(mine, { iss: "https://evil.example" }),
      "wrong service account": jwt(mine, { email: "someone@else.iam.gserviceaccount.com" }),
      "alg none": `${Buffer.from(JSON.stringify({ alg: "none", kid: mine.kid })).toString("base64url")}.${Buffer.from(JSON.stringify({ aud: AUDIENCE })).toString("base64url")}.`,
    };
    for (const [what, token] of Object.entries(cases)) {
      const res = await hook(body, token);
      expect(res.statusCode, what).toBe(401);
      expect(res.json().error.code, what).toBe("unauthorized");
    }
    expect(await hints()).toBe(0);
    expect((await w.a.get(`/v1/flows/${id}`)).json().watch.lastNotificationAt).toBeNull();
    expect(await runsOf(w, id)).toHaveLength(0);
    for (const token of Object.values(cases)) if (token && token.length > 40) expect(w.t.logs.join("")).not.toContain(token);
  });

  it("answers 400 to a malformed push, and 204 without recording or logging it for an address nobody watches", async () => {
    const token = jwt(mine, {});
    for (const body of [{}, { message: {} }, { message: { data: "%%%" } }, { message: { data: Buffer.from("not json").toString("base64") } }, pushBody("not-an-address", 5), pushBody("a@b.c", -1), pushBody("a@b.c", "12x")]) {
      const res = await hook(body, token);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toMatchObject({ code: "validation_failed" });
    }
    const stranger = `stranger-${randomBytes(4).toString("hex")}@example.com`;
    const res = await hook(pushBody(stranger, 12345), token);
    expect(res.statusCode).toBe(204);
    expect(await hints()).toBe(0);
    expect(w.t.logs.join("")).not.toContain(stranger);
  });

  it("keeps the hint when its look at history fails, and the hint sweep delivers the mail (not the safety-net poll minutes later)", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    const hintOf = async () => (await w.t.store.db.query<{ history_id: string }>("SELECT history_id FROM gmail_push_hints WHERE email = $1", [src.email]))[0];
    // Every Gmail call fails (a 400 is not retried): the push's look at history among them.
    await w.google.admin("PUT", "/settings", { faults: { status: 400, rate: 1 } });
    try {
      await arrive(src.email, ["after a failed look"]);
      await until(async () => (await hintOf()) && (await pubsub()).pending === 0, "the push acknowledged");
      await w.t.app.triggers.push.handle(src.email); // the pass of that push (joined, or made again): it fails
    } finally {
      await w.google.admin("PUT", "/settings", { faults: null });
    }
    expect(await hintOf()).toBeDefined();
    expect(await runsOf(w, id)).toHaveLength(0);
    await w.t.app.triggers.push.sweepHints(); // what the hint sweep does every HINT_SWEEP_MS
    const [run] = await waitRuns(id, 1);
    expect(run).toMatchObject({ trigger: "push", status: "succeeded", progress: { exported: 1 } });
    expect(await subjects(dst.email)).toEqual(["after a failed look"]);
    expect(await hintOf()).toBeUndefined();
  });

  it("handles at start a hint a crash left between the 204 and the run", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst);
    // What a process killed right after persisting the hint leaves: mail in the mailbox, a hint, no run.
    // (The subscription moves to another topic meanwhile, so this process hears no push of it.)
    await w.google.admin("PUT", "/pubsub", { ...subscription, topic: "projects/mb-test/topics/elsewhere" });
    try {
      await arrive(src.email, ["survives the crash"]);
    } finally {
      await w.google.admin("PUT", "/pubsub", subscription);
    }
    const { historyId } = await w.user(src.email);
    await w.t.store.db.query("INSERT INTO gmail_push_hints (email, history_id) VALUES ($1, $2)", [src.email, historyId]);
    expect(await runsOf(w, id)).toHaveLength(0);
    const second = await startTestApp({ store: w.t.store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env, GMAIL_PUSH_TOPIC: TOPIC }, deps: { triggers: { now: c.now } } });
    try {
      const [run] = await until(async () => ((r) => r.length === 1 && settled(r) && r)(await runsOf(w, id)), "the run the left-over hint starts");
      expect(run).toMatchObject({ trigger: "push", status: "succeeded", progress: { exported: 1 } });
      expect(await subjects(dst.email)).toEqual(["survives the crash"]);
      expect(await hints()).toBe(0);
    } finally {
      await second.close();
    }
  });

  it("keeps one watch per mailbox, renews it daily on the service's clock, and stops it when the last flow goes", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    await w.google.admin("POST", "/stats/reset", {});
    const one = await copyFlow(src, dst);
    const two = await copyFlow(src, dst, { labelIds: ["INBOX"], query: "subject:invoice" });
    const [watch] = await w.t.store.db.query<{ renewed_at: Date | string; expires_at: Date | string }>("SELECT * FROM gmail_watches WHERE email = $1", [src.email]);
    expect(watch).toBeDefined();
    // One users.watch (100 units) for both flows; each flow's enabling anchored (getProfile, 1); the mailbox's one poller
    // looked once when the first flow made it (history.list, 2), and the second flow joined it.
    expect(await units(src.email)).toBe(100 + 2 * 1 + 2);

    const push = w.t.app.triggers.push;
    c.advance(23 * 3_600_000);
    await push.reconcile();
    expect(await units(src.email)).toBe(104); // not a day yet
    c.advance(2 * 3_600_000);
    await push.reconcile();
    expect(await units(src.email)).toBe(204); // renewed
    const [renewed] = await w.t.store.db.query<{ renewed_at: Date | string }>("SELECT renewed_at FROM gmail_watches WHERE email = $1", [src.email]);
    expect(new Date(renewed!.renewed_at).getTime()).toBe(c.t);

    expect((await w.a.patch(`/v1/flows/${one}`, { enabled: false })).statusCode).toBe(200);
    expect(await units(src.email)).toBe(204); // the other flow still watches
    expect((await w.a.get(`/v1/flows/${one}`)).json().watch).toMatchObject({ mode: "push", expiresAt: null });
    expect((await w.a.delete(`/v1/flows/${two}`)).statusCode).toBe(204);
    expect(await units(src.email)).toBe(254); // users.stop, 50 units
    expect(await w.t.store.db.query("SELECT * FROM gmail_watches WHERE email = $1", [src.email])).toHaveLength(0);
    const published = (await pubsub()).published;
    await arrive(src.email, ["nobody listens"]);
    expect((await pubsub()).published).toBe(published);

    // Enabled again it watches again; its connection going offline stops the watch at the next reconcile.
    expect((await w.a.patch(`/v1/flows/${one}`, { enabled: true })).statusCode).toBe(200);
    expect(await w.t.store.db.query("SELECT * FROM gmail_watches WHERE email = $1", [src.email])).toHaveLength(1);
    await w.t.store.db.query("UPDATE connections SET status = 'offline' WHERE id = $1", [src.connectionId]);
    // Set by hand, as another process would: the Gmail choke point may answer from what it read up to MAX_TOKEN_CACHE_MS ago.
    await new Promise((r) => setTimeout(r, MAX_TOKEN_CACHE_MS));
    // The next notification for it finds no flow to run: acknowledged, and the watch goes without waiting for the hourly reconcile.
    const acked = (await pubsub()).acked;
    await arrive(src.email, ["while offline"]);
    await until(async () => (await pubsub()).acked > acked, "the push acknowledged");
    await until(async () => (await w.t.store.db.query("SELECT * FROM gmail_watches WHERE email = $1", [src.email])).length === 0, "the watch dropped");
    expect(await hints()).toBe(0);
    expect(await runsOf(w, one)).toHaveLength(0);
  });
});
