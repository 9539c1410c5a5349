/**
 * Flow export benchmark.
 *
 *   npx tsx bench/export.ts            # N=2000 by default: N=5000 npx tsx bench/export.ts
 *
 * A flow exports N generated messages (format metadata, concurrency level 25) from an
 * emulated mailbox into an addLabels destination on the same connection, through the real
 * app, its choke point and the in-process run queue, on embedded PGlite. Google's per-user
 * quota is 15,000 units/min and messages.get costs 5 units, so no exporter can fetch more
 * than 3,000 messages/min per mailbox: the figure printed is our throughput as a ratio of
 * that ceiling (the emulator's own quota is lifted, so the ratio shows our headroom). The
 * same messages fetched by plain messages.get calls through the choke point, with no flow
 * around them, are the baseline measured in the same run.
 */
import { performance } from "node:perf_hooks";
import { api, startTestApp } from "../test/support/app.ts";
import { authorizeConnection, startGoogle } from "../test/support/google.ts";

const N = Number(process.env.N ?? 2000);
const QUOTA_UNITS_PER_MINUTE = 15_000;
const GET_UNITS = 5;
const CEILING_PER_MIN = QUOTA_UNITS_PER_MINUTE / GET_UNITS; // 3,000 messages/min
const PUBLIC_URL = "http://mailbridge.bench";

const google = await startGoogle();
const t = await startTestApp({ env: { PUBLIC_URL, ...google.env, LOG_LEVEL: "warn" } });
try {
  await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
  const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
  const email = await google.newUser("bench@example.com", { generate: N });
  const a = api(t.app, t.adminToken);
  const ic = (await a.post("/v1/iclients", { name: "bench", application: "gmail", ...client })).json();
  const con = (await a.post("/v1/connections", { name: "bench", application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id, concurrencyLevel: 25 })).json();
  await authorizeConnection(t.app, t.adminToken, con.id, { email });
  const flow = (
    await a.post("/v1/flows", {
      name: "bench",
      source: { connectionId: con.id, export: { format: "metadata", attachments: "none", maxMessages: 10_000 } },
      destinations: [{ connectionId: con.id, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
    })
  ).json();

  const started = performance.now();
  const { runId } = (await a.post(`/v1/flows/${flow.id}/run`)).json();
  let run: any;
  for (;;) {
    run = (await a.get(`/v1/runs/${runId}`)).json();
    if (!["queued", "running"].includes(run.status)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const flowSeconds = (performance.now() - started) / 1000;
  if (run.status !== "succeeded") throw new Error(`run ${run.status}: ${JSON.stringify(run.errors)}`);

  // Baseline: the same ids fetched by bare messages.get calls through the choke point, 25 at a time.
  const [account] = await t.store.db.query<{ id: string }>("SELECT id FROM accounts WHERE name = 'default'");
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const res = await t.app.gmail.run(account!.id, con.id, "messages.list", (g, o) => g.users.messages.list({ userId: "me", maxResults: 500, pageToken }, o));
    ids.push(...(res.data.messages ?? []).map((m) => m.id!));
    pageToken = res.data.nextPageToken ?? undefined;
  } while (pageToken);
  const baseStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 25 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await t.app.gmail.run(account!.id, con.id, "messages.get", (g, o) => g.users.messages.get({ userId: "me", id, format: "metadata" }, o));
      }
    }),
  );
  const baseSeconds = (performance.now() - baseStarted) / 1000;

  const flowPerMin = (run.progress.exported / flowSeconds) * 60;
  const basePerMin = (ids.length / baseSeconds) * 60;
  console.log(`messages generated:           ${N} (listed outside spam/trash: ${ids.length})`);
  console.log(`flow run:                     ${run.progress.exported} exported, ${run.progress.imported} imported in ${flowSeconds.toFixed(2)} s`);
  console.log(`flow export throughput:       ${flowPerMin.toFixed(0)} messages/min`);
  console.log(`baseline (bare gets):         ${basePerMin.toFixed(0)} messages/min in ${baseSeconds.toFixed(2)} s`);
  console.log(`Gmail per-user ceiling:       ${CEILING_PER_MIN} messages/min (15,000 units/min / 5 units per get)`);
  console.log(`flow / ceiling:               ${(flowPerMin / CEILING_PER_MIN).toFixed(2)}x`);
  console.log(`baseline / ceiling:           ${(basePerMin / CEILING_PER_MIN).toFixed(2)}x`);
  console.log(`flow / baseline:              ${(flowPerMin / basePerMin).toFixed(2)}x (the flow also makes one modify per record)`);
} finally {
  await t.close();
  await google.close();
}
