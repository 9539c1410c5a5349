/**
 * Trigger benchmark: how long from a message landing in an emulated mailbox to its delivery
 * at the destination, by push and by poll, in the same run; then many watched mailboxes each
 * receiving one message a second on one service process: none missed, none doubled, lag, the
 * service's RSS (from /proc), and the CPU of the service and of the emulator.
 *
 *   npm run bench:trigger
 *   SAMPLES=20 POLL_EVERY=5s MAILBOXES=1000 DURATION=60 npx tsx bench/trigger.ts
 *   SKIP_LATENCY=1 BENCH_DATABASE_URL=<admin URL> BENCH_CPU_PROF=<dir> npx tsx bench/trigger.ts
 *
 * The Google emulator runs in a process of its own (`emulator/main --port 0` through tsx), so
 * that its work is not counted against the service's, and both parts talk to it over HTTP.
 *
 * Latency: two services in this process on embedded PGlite share the emulator: one with
 * GMAIL_PUSH_TOPIC (its `/hooks/gmail` on a real socket gets the emulator's Pub/Sub pushes,
 * publish delay 0), one without (polling every POLL_EVERY, lowered from the 1 minute minimum
 * for the bench). A message is "delivered" when it shows in the destination mailbox (checked
 * every 10 ms).
 *
 * Load: the service runs as a child process (`node --import tsx server/main.ts`, as `npm start`
 * on the embedded database; BENCH_DATABASE_URL=<admin URL> runs it on a fresh PostgreSQL database;
 * BENCH_CPU_PROF=<dir> writes its CPU profile there when it stops), with push on
 * and TRUST_PROXY so each of its MAILBOXES connections is authorized from an address of its
 * own (the OAuth callback is rate limited per IP). Every flow copies its mailbox's new INBOX
 * mail into a destination mailbox (concurrency 25; DESTINATIONS of them, below). The quota budgets are raised: 1,000
 * mailboxes a message a second is ~2 M units a minute, above one Google project's 1.2 M.
 * Deliveries are seen through the emulator's arrivals every 250 ms. Targets (issue 15): push
 * p50 ≤ 2 s; 1,000 mailboxes held.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import { api, startTestApp } from "../test/support/app.ts";
import { consent, type TestGoogle } from "../test/support/google.ts";
import { rawMessage } from "../test/flows/support.ts";
import { freePort } from "../test/ui/support/service.ts";
import { freshPostgresDatabase } from "../test/support/db.ts";
import { cpuSeconds, memory, pool, say, sleep, startGoogleProcess, startService, type GoogleProcess, type Service } from "./support.ts";

const SAMPLES = Number(process.env.SAMPLES ?? 20);
const POLL_EVERY = process.env.POLL_EVERY ?? "5s";
const MAILBOXES = Number(process.env.MAILBOXES ?? 1000);
const DURATION = Number(process.env.DURATION ?? 60);
/**
 * Destination mailboxes of the load part, the sources spread evenly over them. Default: one per
 * 4 sources, so that none takes in more than Google's per-user quota allows (4 inserts a second
 * = 100 units/s = 6,000 units/min, GOOGLE.md); DESTINATIONS=1 funnels every copy through one
 * connection, whose concurrency (25 at most) then bounds the whole load.
 */
const DESTINATIONS = Math.max(1, Number(process.env.DESTINATIONS ?? Math.ceil(MAILBOXES / 4)));
/** After sending: how long without a new delivery before the undelivered count as missed. */
const STALL = Number(process.env.STALL ?? 60);
const TOPIC = "projects/mailbridge-bench/topics/gmail";
const PUBLIC_URL = "http://mailbridge.bench";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
let seq = 0;

async function world(google: TestGoogle, push: boolean) {
  const t = await startTestApp({
    env: { PUBLIC_URL, ...google.env, LOG_LEVEL: "warn", ...(push ? { GMAIL_PUSH_TOPIC: TOPIC } : {}) },
    deps: { triggers: { minIntervalMs: 1000 } },
  });
  const a = api(t.app, t.adminToken);
  const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
  const ic = (await a.post("/v1/iclients", { name: "bench", application: "gmail", ...client })).json();
  const connect = async (email: string) => {
    const con = (await a.post("/v1/connections", { name: `c ${email}`, application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id })).json();
    // Each from an address of its own: the callback is rate limited per IP, as in production.
    const n = ++seq;
    const start = await t.app.inject({ method: "POST", url: `/v1/connections/${con.id}/authorize`, headers: { authorization: `Bearer ${t.adminToken}` } });
    const { redirect } = await consent(start.json().authorizeUrl, { email });
    const res = await t.app.inject({ method: "GET", url: redirect.pathname + redirect.search, remoteAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` });
    if (res.statusCode !== 200) throw new Error(`authorize ${email}: ${res.statusCode}`);
    return con.id as string;
  };
  const flow = async (src: string, dst: string, trigger: Record<string, unknown>) => {
    const res = await a.post("/v1/flows", {
      name: `f ${Math.random().toString(36).slice(2)}`,
      source: { connectionId: src, export: { format: "metadata" } },
      destinations: [{ connectionId: dst, import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"], ...trigger },
    });
    if (res.statusCode !== 201) throw new Error(`flow: ${res.statusCode} ${res.body}`);
    return res.json().id as string;
  };
  return { t, connect, flow };
}

async function latency(google: TestGoogle, w: Awaited<ReturnType<typeof world>>, label: string, trigger: Record<string, unknown>): Promise<number[]> {
  const src = await google.newUser(`${label}-src@bench.test`);
  const dst = await google.newUser(`${label}-dst@bench.test`);
  await w.flow(await w.connect(src), await w.connect(dst), trigger);
  await sleep(500); // the poll made on enabling
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const subject = `${label} ${i}`;
    const t0 = performance.now();
    await google.admin("POST", `/users/${src}/messages`, { raw: rawMessage({ to: src, subject }) });
    for (;;) {
      const box = await google.admin("GET", `/users/${dst}`);
      if (box.messages.some((m: { subject: string }) => m.subject === subject)) break;
      if (performance.now() - t0 > 120_000) throw new Error(`${label}: ${subject} not delivered in 2 minutes`);
      await sleep(10);
    }
    out.push(performance.now() - t0);
  }
  return out;
}


async function latencyPart(google: TestGoogle) {
  const pushWorld = await world(google, true);
  const pollWorld = await world(google, false);
  try {
    await pushWorld.t.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (pushWorld.t.app.server.address() as AddressInfo).port;
    await google.admin("PUT", "/pubsub", { topic: TOPIC, pushEndpoint: `http://127.0.0.1:${port}/hooks/gmail`, audience: `${PUBLIC_URL}/hooks/gmail`, notifyIntervalMs: 0, minBackoffMs: 100 });
    const push = await latency(google, pushWorld, "push", {});
    const poll = await latency(google, pollWorld, "poll", { pollEvery: POLL_EVERY });
    console.log(`\nlatency, message landing → delivered at the destination (${SAMPLES} samples each)`);
    console.log(`  push (publish delay 0): p50 ${pct(push, 50).toFixed(0)} ms, p99 ${pct(push, 99).toFixed(0)} ms (target p50 ≤ 2000 ms)`);
    console.log(`  poll every ${POLL_EVERY.padEnd(11)} p50 ${pct(poll, 50).toFixed(0)} ms, p99 ${pct(poll, 99).toFixed(0)} ms`);
  } catch (err) {
    for (const app of [pushWorld.t, pollWorld.t]) for (const line of app.logs) if (/"level":(40|50|60)/.test(line)) console.error(line.slice(0, 600));
    throw err;
  } finally {
    await pushWorld.t.close();
    await pollWorld.t.close();
  }
}

async function loadPart(google: GoogleProcess) {
  const dataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-trigger-bench-"));
  // PostgreSQL instead of the embedded database: a fresh database on that server, dropped afterwards.
  const pgdb = process.env.BENCH_DATABASE_URL ? await freshPostgresDatabase(process.env.BENCH_DATABASE_URL) : undefined;
  let service: Service | undefined;
  try {
    service = await startService({
      out: undefined, // the source through tsx
      port: await freePort(),
      dataDir,
      adminToken: `mb_bench_${randomBytes(12).toString("hex")}`,
      google: google.baseUrl,
      databaseUrl: pgdb?.url,
      env: {
        GMAIL_PUSH_TOPIC: TOPIC,
        TRUST_PROXY: "127.0.0.1",
        GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "100000000",
        GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE: "1000000000",
        GMAIL_PROJECT_DAILY_UNITS: "100000000000",
      },
    });
    const { url, call, pid, connect: authorize } = service;
    const client = await google.newClient([`${url}/oauth2/callback`]);
    const ic = await call("POST", "/v1/iclients", { name: "bench", application: "gmail", ...client });
    let n = 0;
    // Each from an address of its own through the trusted proxy: the callback is rate limited per IP.
    const connect = (email: string, concurrencyLevel?: number) => {
      const k = ++n;
      return authorize(ic.id, email, { concurrencyLevel, from: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}` });
    };

    const setup0 = performance.now();
    const dsts = Array.from({ length: DESTINATIONS }, (_, i) => `load-dst-${i}@bench.test`);
    const dstCons: string[] = [];
    await pool(dsts, 8, async (email) => {
      await google.newUser(email);
      dstCons[dsts.indexOf(email)] = await connect(email, 25);
    });
    const sources = Array.from({ length: MAILBOXES }, (_, i) => `load-${i}@bench.test`);
    const flowOf = new Map<number, string>();
    await pool(sources, 8, async (email) => {
      await google.newUser(email);
      const created = await call("POST", "/v1/flows", {
        name: `f ${email}`,
        source: { connectionId: await connect(email), export: { format: "metadata" } },
        destinations: [{ connectionId: dstCons[sources.indexOf(email) % DESTINATIONS]!, import: { action: "insert" } }],
        trigger: { type: "gmail", labelIds: ["INBOX"] },
      });
      flowOf.set(sources.indexOf(email), created.id);
    });
    await google.admin("PUT", "/pubsub", { topic: TOPIC, pushEndpoint: `${url}/hooks/gmail`, audience: `${url}/hooks/gmail`, notifyIntervalMs: 1000, minBackoffMs: 1000 });
    await google.admin("POST", "/stats/reset", {});
    const idle = memory(pid);
    say(`load: ${MAILBOXES} watched mailboxes set up in ${((performance.now() - setup0) / 1000).toFixed(1)} s; service RSS ${idle.rss.toFixed(0)} MiB`);
    const pubsub0 = await google.admin("GET", "/pubsub");

    const sentAt = new Map<string, number>();
    const seenAt = new Map<string, number>();
    const idsOf = new Map<string, Set<string>>();
    // Each destination's arrivals past the historyId last seen, all in one call.
    const after: Record<string, string> = Object.fromEntries(dsts.map((d) => [d, "0"]));
    const arrived = async () => (await google.admin("POST", "/arrivals/since", { after })).users as Record<string, { historyId: string; messages: Array<{ id: string; subject: string; historyId: string }> }>;
    for (const [d, got] of Object.entries(await arrived())) after[d] = got.historyId;
    let sending = true;
    let lastProgress = performance.now();
    let peakRss = idle.rss;
    const watcher = (async () => {
      // After the last message: until every one is delivered, or none was for STALL seconds (the rest count as missed).
      while (sending || (seenAt.size < sentAt.size && performance.now() - lastProgress < STALL * 1000)) {
        const users = await arrived();
        const now = performance.now();
        for (const [d, got] of Object.entries(users)) {
          for (const m of got.messages) {
            if (!seenAt.has(m.subject)) {
              seenAt.set(m.subject, now);
              lastProgress = now;
            }
            const ids = idsOf.get(m.subject) ?? new Set<string>();
            ids.add(m.id);
            idsOf.set(m.subject, ids);
            if (BigInt(m.historyId) > BigInt(after[d]!)) after[d] = m.historyId;
          }
        }
        peakRss = Math.max(peakRss, memory(pid).rss || 0);
        await sleep(250);
      }
    })();
    const load0 = performance.now();
    const cpu0 = { service: cpuSeconds(pid), emulator: cpuSeconds(google.pid) };
    for (let sec = 0; sec < DURATION; sec++) {
      await sleep(Math.max(0, load0 + sec * 1000 - performance.now()));
      const t = performance.now();
      const messages = sources.map((email, i) => {
        const subject = `load ${i} ${sec}`;
        sentAt.set(subject, t);
        return { email, raw: rawMessage({ to: email, subject }), labelIds: ["INBOX", "UNREAD"] };
      });
      await google.admin("POST", "/arrivals", { messages });
      if (sec % 10 === 9) say(`  ${sec + 1} s: ${sentAt.size} sent, ${seenAt.size} delivered, service RSS ${memory(pid).rss.toFixed(0)} MiB`);
    }
    const sentAll = performance.now();
    lastProgress = sentAll;
    sending = false;
    await watcher;
    const drained = (performance.now() - sentAll) / 1000;
    const loadSeconds = (performance.now() - load0) / 1000;
    const cpu = (who: "service" | "emulator", p: number) => {
      const used = cpuSeconds(p) - cpu0[who];
      return `${who} ${used.toFixed(1)} s (${((used / loadSeconds) * 100).toFixed(0)} % of a core)`;
    };
    const cpuLine = `  CPU over the ${loadSeconds.toFixed(0)} s of sending and draining: ${cpu("service", pid)}, ${cpu("emulator", google.pid)} in its own process`;
    const lags = [...sentAt].filter(([s]) => seenAt.has(s)).map(([s, t]) => seenAt.get(s)! - t);
    const missed = sentAt.size - lags.length;
    const doubled = [...idsOf.values()].reduce((k, ids) => k + ids.size - 1, 0);
    const mem = memory(pid);
    console.log(`\nload: ${MAILBOXES} watched mailboxes, one message a second each for ${DURATION} s, one service process (${pgdb ? "PostgreSQL" : "embedded PGlite"}), copied into ${DESTINATIONS} destination mailbox${DESTINATIONS > 1 ? "es" : ""}`);
    console.log(`  ${sentAt.size} messages sent: ${missed} missed, ${doubled} doubled (the last delivered ${drained.toFixed(0)} s after the last was sent${missed ? `; missed = none delivered for ${STALL} s` : ""})`);
    if (missed) {
      // Which mailboxes, and what their flows say: for finding out why.
      const byBox = new Map<number, number[]>();
      for (const subject of sentAt.keys()) {
        if (seenAt.has(subject)) continue;
        const [, box, sec] = subject.split(" ").map(Number);
        byBox.set(box!, [...(byBox.get(box!) ?? []), sec!]);
      }
      for (const [box, secs] of [...byBox].slice(0, 5)) {
        const flowId = flowOf.get(box)!;
        const flow = await call("GET", `/v1/flows/${flowId}`);
        const runs = await call("GET", `/v1/flows/${flowId}/runs?limit=3`);
        const email = sources[box]!;
        const users = (await google.admin("GET", "/stats")).users as Record<string, { requests: number }>;
        let db = "";
        if (pgdb) {
          // What the service's tables say of that mailbox (the bench's own database).
          const c = new pg.Client({ connectionString: pgdb.url });
          await c.connect();
          const q = async (sql: string) => JSON.stringify((await c.query(sql, [flowId, email])).rows);
          db = `; trigger ${await q("SELECT enabled, pending_trigger, poll_history_id, last_notification_at FROM flow_triggers WHERE flow_id = $1 AND $2::text IS NOT NULL")}`
            + ` checkpoint ${await q("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1 AND $2::text IS NOT NULL")}`
            + ` hint ${await q("SELECT history_id, seq, received_at FROM gmail_push_hints WHERE email = $2 AND $1::text IS NOT NULL")}`
            + ` watch ${await q("SELECT connection_id, history_id FROM gmail_watches WHERE email = $2 AND $1::text IS NOT NULL")}`;
          await c.end();
        }
        const atGoogle = (await google.admin("GET", `/users/${email}/watch`)).watch;
        console.log(`  watch at Google: ${JSON.stringify(atGoogle)}; Gmail calls for it: ${users[email]?.requests ?? 0} (for ${sources[(box + 1) % MAILBOXES]}: ${users[sources[(box + 1) % MAILBOXES]!]?.requests ?? 0})${db}`);
        console.log(`  missed in ${sources[box]}: seconds ${secs.join(",")}; flow ${JSON.stringify({ trigger: flow.trigger, enabled: flow.enabled, watch: flow.watch, nextRunAt: flow.nextRunAt })}; last runs ${JSON.stringify((runs.data ?? runs.items ?? runs).slice?.(0, 3)?.map((r: Record<string, unknown>) => ({ status: r.status, trigger: r.trigger, createdAt: r.createdAt, finishedAt: r.finishedAt, progress: r.progress })))}`);
      }
      if (byBox.size > 5) console.log(`  … and ${byBox.size - 5} more mailboxes`);
    }
    console.log(`  lag p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms, max ${pct(lags, 100).toFixed(0)} ms (seen every 250 ms)`);
    console.log(`  service RSS: idle after set-up ${idle.rss.toFixed(0)} MiB, highest seen ${peakRss.toFixed(0)} MiB, peak (VmHWM) ${mem.peak.toFixed(0)} MiB`);
    console.log(cpuLine);
    console.log(`  emulator RSS now ${memory(google.pid).rss.toFixed(0)} MiB, peak (VmHWM) ${memory(google.pid).peak.toFixed(0)} MiB`);
    const pubsub = await google.admin("GET", "/pubsub");
    console.log(`  Pub/Sub: ${pubsub.published - pubsub0.published} published, ${pubsub.deliveries - pubsub0.deliveries} deliveries, ${pubsub.redelivered - pubsub0.redelivered} redelivered, ${pubsub.pending} pending`);
    const stats = (await google.admin("GET", "/stats")).users as Record<string, { requests: number; quotaUnits: number }>;
    const total = Object.values(stats).reduce((a, u) => ({ requests: a.requests + u.requests, quotaUnits: a.quotaUnits + u.quotaUnits }), { requests: 0, quotaUnits: 0 });
    console.log(`  Gmail calls during the load: ${total.requests} (${total.quotaUnits} units)`);
  } finally {
    await service?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await pgdb?.drop();
    if (service) console.log(`  service log: ${service.logSummary()}`);
  }
}

const google = await startGoogleProcess(undefined);
await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
try {
  if (process.env.SKIP_LATENCY !== "1") await latencyPart(google);
  if (MAILBOXES > 0) await loadPart(google);
} finally {
  await google.close();
}
process.exit(0);
