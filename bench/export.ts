/**
 * Flow export benchmark.
 *
 *   npm run bench:export                 # all three parts
 *   N=5000 ENFORCED_SECONDS=60 PARTS=lifted,enforced npm run bench:export
 *
 * A flow exports generated messages (format metadata, concurrency level 25) from an emulated
 * mailbox into an addLabels destination on the same connection (messages.get + messages.modify,
 * 10 units a record), through the real app, its choke point and the in-process run queue, on
 * embedded PGlite.
 *
 * 1. `lifted`: the emulator's quota lifted (and Mailbridge's budget too), N messages (2,000 by
 *    default): throughput against Google's per-user ceiling (6,000 units/min = 1,200
 *    messages.get/min), with bare messages.get calls through the choke point as the same-run
 *    baseline.
 * 2. `enforced`: the emulator ENFORCES the per-user quota (GOOGLE.md: 6,000 units a minute, a
 *    sliding minute) and Mailbridge's budget is the same number; the mailbox is sized so the run
 *    spends about ENFORCED_SECONDS (120 by default) of quota. Printed: the run's time against the
 *    least time the quota allows (units Google charged ÷ 6,000 a minute: what a limiter counting a
 *    moving average allows; a sliding minute alone would let the first minute's units go at
 *    once, also printed), and refused calls (429s Mailbridge met) ÷ all calls Google saw.
 * 3. `two`: the same with two service apps on one Redis (RedisBudget, one prefix) and one
 *    database, each running its own flow over the same mailbox and connection (half the messages
 *    each): together they must stay inside the one quota. Needs REDIS_URL or TEST_REDIS_URL. The
 *    two apps share this Node process (and its event loop), not two OS processes.
 * Targets (issue 13): run time within 5 % of the least time, refused calls under 0.1 %.
 */
import { performance } from "node:perf_hooks";
import { MemoryBudget, RedisBudget, type QuotaBudget } from "../server/quota/index.ts";
import { api, startTestApp, type TestApp } from "../test/support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../test/support/google.ts";

const N = Number(process.env.N ?? 2000);
const QUOTA_UNITS_PER_MINUTE = 6_000; // Google's per-user limit (GOOGLE.md "Quota")
const GET_UNITS = 5;
const RECORD_UNITS = 10; // messages.get (metadata) + messages.modify
const CEILING_PER_MIN = QUOTA_UNITS_PER_MINUTE / GET_UNITS; // 1,200 messages/min
const ENFORCED_SECONDS = Number(process.env.ENFORCED_SECONDS ?? 120);
const PARTS = new Set((process.env.PARTS ?? "lifted,enforced,two").split(","));
const REDIS_URL = process.env.REDIS_URL ?? process.env.TEST_REDIS_URL;
const PUBLIC_URL = "http://mailbridge.bench";
const MAIL = "https://mail.google.com/";

const google = await startGoogle();
const apps: TestApp[] = [];
const budgets: QuotaBudget[] = [];

/** An app (a "process"); `shared` gives it the same database as another. */
async function app(env: Record<string, string>, budget?: QuotaBudget, shared?: TestApp): Promise<TestApp> {
  if (budget) budgets.push(budget);
  const t = await startTestApp({ env: { PUBLIC_URL, ...google.env, LOG_LEVEL: "warn", ...env }, store: shared?.store, secrets: shared?.secrets, deps: budget ? { budget } : {} });
  apps.push(t);
  return t;
}

/** An iClient, a mailbox of `count` generated messages and a connection to it, on `t`. */
async function mailbox(t: TestApp, g: TestGoogle, count: number) {
  const client = await g.newClient([`${PUBLIC_URL}/oauth2/callback`]);
  const email = await g.newUser(undefined, { generate: count });
  const a = api(t.app, t.adminToken);
  const ic = (await a.post("/v1/iclients", { name: `bench ${email}`, application: "gmail", ...client })).json();
  const con = (await a.post("/v1/connections", { name: `bench ${email}`, application: "gmail", scopes: [MAIL], iClientId: ic.id, concurrencyLevel: 25 })).json();
  const auth = await authorizeConnection(t.app, t.adminToken, con.id, { email });
  if (auth.statusCode !== 200) throw new Error(`authorize: ${auth.statusCode}`);
  const [account] = await t.store.db.query<{ id: string }>("SELECT id FROM accounts WHERE name = 'default'");
  return { email, connectionId: con.id as string, iClientId: ic.id as string, accountId: account!.id };
}

async function createFlow(t: TestApp, connectionId: string, maxMessages: number): Promise<string> {
  const res = await api(t.app, t.adminToken).post("/v1/flows", {
    name: `bench ${Math.random().toString(36).slice(2, 8)}`,
    source: { connectionId, export: { format: "metadata", attachments: "none", maxMessages } },
    destinations: [{ connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
  });
  if (res.statusCode !== 201) throw new Error(`flow: ${res.statusCode} ${res.body}`);
  return res.json().id;
}

/** Run a flow through `t` to its end; the run. */
async function runFlow(t: TestApp, flowId: string): Promise<any> {
  const a = api(t.app, t.adminToken);
  const { runId } = (await a.post(`/v1/flows/${flowId}/run`)).json();
  for (;;) {
    const run = (await a.get(`/v1/runs/${runId}`)).json();
    if (!["queued", "running"].includes(run.status)) {
      if (run.status !== "succeeded") throw new Error(`run ${run.status}: ${JSON.stringify(run.errors)}`);
      return run;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Google's refusals as Mailbridge counted them (`mailbridge_gmail_rate_limited_total`). */
async function refusals(t: TestApp): Promise<number> {
  const text = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
  return [...text.matchAll(/^mailbridge_gmail_rate_limited_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

const pct = (x: number) => `${(x * 100).toFixed(3)} %`;

async function lifted(): Promise<void> {
  const t = await app({});
  await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
  const m = await mailbox(t, google, N);
  const flowId = await createFlow(t, m.connectionId, 10_000);
  const started = performance.now();
  const run = await runFlow(t, flowId);
  const flowSeconds = (performance.now() - started) / 1000;

  // Baseline: the same ids fetched by bare messages.get calls through the choke point, 25 at a time.
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const res = await t.app.gmail.run(m.accountId, m.connectionId, "messages.list", (g, o) => g.users.messages.list({ userId: "me", maxResults: 500, pageToken }, o));
    ids.push(...(res.data.messages ?? []).map((x) => x.id!));
    pageToken = res.data.nextPageToken ?? undefined;
  } while (pageToken);
  const baseStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await t.app.gmail.run(m.accountId, m.connectionId, "messages.get", (g, o) => g.users.messages.get({ userId: "me", id, format: "metadata" }, o));
      }
    }),
  );
  const baseSeconds = (performance.now() - baseStarted) / 1000;
  const flowPerMin = (run.progress.exported / flowSeconds) * 60;
  const basePerMin = (ids.length / baseSeconds) * 60;
  console.log("== quota lifted ==");
  console.log(`messages generated:           ${N} (listed outside spam/trash: ${ids.length})`);
  console.log(`flow run:                     ${run.progress.exported} exported, ${run.progress.imported} imported in ${flowSeconds.toFixed(2)} s`);
  console.log(`flow export throughput:       ${flowPerMin.toFixed(0)} messages/min`);
  console.log(`baseline (bare gets):         ${basePerMin.toFixed(0)} messages/min in ${baseSeconds.toFixed(2)} s`);
  console.log(`Gmail per-user ceiling:       ${CEILING_PER_MIN} messages/min (6,000 units/min / 5 units per get)`);
  console.log(`flow / ceiling:               ${(flowPerMin / CEILING_PER_MIN).toFixed(2)}x`);
  console.log(`baseline / ceiling:           ${(basePerMin / CEILING_PER_MIN).toFixed(2)}x`);
  console.log(`flow / baseline:              ${(flowPerMin / basePerMin).toFixed(2)}x (the flow also makes one modify per record)`);
}

/** One enforced scenario: `processes` apps, each running a flow over half (or all) of one mailbox. */
async function enforced(processes: 1 | 2): Promise<void> {
  const env = { GMAIL_USER_QUOTA_UNITS_PER_MINUTE: String(QUOTA_UNITS_PER_MINUTE) };
  const prefix = `bench-export-${process.pid}-${Date.now()}`;
  const budget = () => (processes === 2 ? new RedisBudget({ redis: REDIS_URL!, prefix }) : new MemoryBudget());
  const one = await app(env, budget());
  const many = processes === 2 ? [one, await app(env, budget(), one)] : [one];
  await google.admin("PUT", "/settings", { quotaUnitsPerMinute: QUOTA_UNITS_PER_MINUTE, faults: null });
  // Sized so the records' units take ENFORCED_SECONDS of quota (about 7 % of generated mail is spam or trash).
  const records = Math.round((QUOTA_UNITS_PER_MINUTE * ENFORCED_SECONDS) / 60 / RECORD_UNITS);
  const m = await mailbox(one, google, Math.ceil(records / 0.93));
  const share = Math.ceil(records / processes);
  const flows = await Promise.all(many.map((t) => createFlow(t, m.connectionId, share)));
  // A new user: a fresh minute for this (project, user); count from zero.
  await google.admin("POST", "/stats/reset");
  const refusedBefore = (await Promise.all(many.map(refusals))).reduce((a, b) => a + b, 0);
  const started = performance.now();
  const runs = await Promise.all(many.map((t, i) => runFlow(t, flows[i]!)));
  const seconds = (performance.now() - started) / 1000;
  const stats = (await google.admin("GET", "/stats")).users[m.email];
  const refused = (await Promise.all(many.map(refusals))).reduce((a, b) => a + b, 0) - refusedBefore;
  const units: number = stats.quotaUnits;
  const least = (units / QUOTA_UNITS_PER_MINUTE) * 60;
  const leastSliding = (Math.max(0, units - QUOTA_UNITS_PER_MINUTE) / QUOTA_UNITS_PER_MINUTE) * 60;
  const exported = runs.reduce((n, r) => n + r.progress.exported, 0);
  console.log(`== quota enforced by the emulator (${QUOTA_UNITS_PER_MINUTE} units/min per user), ${processes === 2 ? "two apps on one Redis" : "one app"} ==`);
  console.log(`records:                      ${exported} exported and labelled (${runs.map((r) => r.progress.exported).join(" + ")})`);
  console.log(`units Google charged:         ${units} in ${stats.requests} calls`);
  console.log(`run time:                     ${seconds.toFixed(1)} s`);
  console.log(`least time the quota allows:  ${least.toFixed(1)} s (units / limit; a sliding minute alone: ${leastSliding.toFixed(1)} s)`);
  console.log(`run time / least time:        ${(seconds / least).toFixed(3)} (target <= 1.05)`);
  console.log(`refused calls / all calls:    ${refused} / ${stats.requests} = ${pct(refused / stats.requests)} (target < 0.1 %)`);
}

try {
  if (PARTS.has("lifted")) await lifted();
  if (PARTS.has("enforced")) await enforced(1);
  if (PARTS.has("two")) {
    if (REDIS_URL) await enforced(2);
    else console.log("== two apps on one Redis: skipped (set REDIS_URL or TEST_REDIS_URL) ==");
  }
} finally {
  for (const t of apps.reverse()) await t.close();
  for (const b of budgets) await b.close();
  await google.close();
}
