/**
 * A whole-mailbox backup (issue 11): N messages (100,000 by default) exported by a flow into an
 * archive, with the Google emulator in its own process (seeded through its admin API) and the
 * service in its own process on the embedded default, as `npm start` runs them. Prints
 * messages/min, bytes/s and the service's memory read from /proc (VmHWM, and VmRSS sampled):
 *
 * 1. quota lifted (emulator and service): the service's own ceiling (target ≥ 10,000 msg/min,
 *    peak RSS ≤ 256 MB);
 * 2. Google's per-user quota enforced by the emulator (6,000 units/min, what the service budgets
 *    by default): the backup's throughput over a window against the ceiling that quota allows
 *    (5 units per messages.get, 5 per listing page of 500), i.e. the quota budget's efficiency.
 *
 *   npx tsx bench/backup.ts                 # N = 100,000; the enforced window 120 s
 *   npm run bench:backup -- 20000           # a smaller mailbox
 *   ENFORCED_SECONDS=60 npx tsx bench/backup.ts 20000
 *   SERVICE=tsx npx tsx bench/backup.ts     # run the source through tsx instead of compiling it
 *   npx tsx bench/backup.ts 20000 --postgres  # the service on a fresh PostgreSQL database (TEST_DATABASE_URL)
 *                                             # instead of embedded PGlite, whose WebAssembly heap is in its RSS
 *
 * The service and emulator are compiled first (scripts/build-server.mjs into a fresh folder under
 * test-artifacts/, removed afterwards; needs web/dist, `npm run build:web`), so what is measured
 * is plain `node`, not tsx's transform.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../test/ui/support/service.ts";
import { freshPostgresDatabase } from "../test/support/db.ts";
import { compile, memory, say, sleep, startGoogleProcess, startService, type GoogleProcess, type Service } from "./support.ts";

const args = process.argv.slice(2);
const N = Number(args.find((a) => !a.startsWith("--")) ?? process.env.N ?? 100_000);
/** `--postgres`: the service on a fresh PostgreSQL database (TEST_DATABASE_URL) instead of embedded PGlite. */
const POSTGRES = args.includes("--postgres") ? (process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL) : undefined;
if (args.includes("--postgres") && !POSTGRES) throw new Error("--postgres needs TEST_DATABASE_URL (or DATABASE_URL): a server to create a fresh database on");
const ENFORCED_SECONDS = Number(process.env.ENFORCED_SECONDS ?? 120);
/** Google's per-user quota today (GOOGLE.md), and the service's default budget. */
const USER_QUOTA = 6_000;
const GET_UNITS = 5;
const MB = (mib: number) => `${mib.toFixed(0)} MB`;
if (!Number.isInteger(N) || N < 1) throw new Error(`the message count must be a positive integer, got ${process.argv[2]}`);

interface Result {
  exported: number;
  seconds: number;
  bytes: number;
  peakMiB: number;
  highestSampledMiB: number;
  startMiB: number;
}

const out = await compile("bench-backup-");
const dataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-backup-"));
const pgDb = POSTGRES ? await freshPostgresDatabase(POSTGRES) : undefined;
let google: GoogleProcess | undefined;
let service: Service | undefined;
try {
  google = await startGoogleProcess(out);
  const { admin } = google;
  await admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
  const email = "backup@example.com";
  say(`seeding ${N.toLocaleString("en")} messages in the emulator (pid ${google.pid})`);
  const seeded = Date.now();
  for (let made = 0; made < N; made += 10_000) {
    const count = Math.min(10_000, N - made);
    await admin("POST", "/users", { email, generate: { count } });
  }
  say(`seeded in ${((Date.now() - seeded) / 1000).toFixed(0)} s`);

  const port = await freePort();
  const adminToken = `mb_bench_${randomBytes(12).toString("hex")}`;
  const client = await google.newClient([`http://127.0.0.1:${port}/oauth2/callback`]);
  const base = google.baseUrl;
  const startWith = (quota: number) =>
    startService({ out, port, dataDir, adminToken, google: base, databaseUrl: pgDb?.url, env: { GMAIL_USER_QUOTA_UNITS_PER_MINUTE: String(quota) } });

  /** One backup run; `windowSeconds`: measure that long after a warm-up, then cancel. */
  async function backup(s: Service, flowId: string, windowSeconds?: number): Promise<Result> {
    const startMiB = memory(s.pid).rss;
    const { runId } = await s.call("POST", `/v1/flows/${flowId}/run`);
    let highest = startMiB;
    let lastSaid = Date.now();
    let run: any;
    let window: { t0: number; e0: number } | undefined;
    const warmUpMs = 15_000;
    const began = performance.now();
    for (;;) {
      highest = Math.max(highest, memory(s.pid).rss || 0);
      run = await s.call("GET", `/v1/runs/${runId}`);
      const now = performance.now();
      if (!["queued", "running"].includes(run.status)) break;
      if (windowSeconds !== undefined) {
        if (!window && now - began >= warmUpMs) window = { t0: now, e0: run.progress.exported };
        if (window && now - window.t0 >= windowSeconds * 1000) {
          await s.call("POST", `/v1/runs/${runId}/cancel`);
          return { exported: run.progress.exported - window.e0, seconds: (now - window.t0) / 1000, bytes: NaN, peakMiB: memory(s.pid).peak, highestSampledMiB: highest, startMiB };
        }
      }
      if (Date.now() - lastSaid > 10_000) {
        lastSaid = Date.now();
        say(`${run.progress.exported.toLocaleString("en")} exported, RSS ${MB(memory(s.pid).rss)}, highest ${MB(highest)}`);
      }
      await sleep(200);
    }
    if (run.status !== "succeeded") throw new Error(`run ${run.status}: ${JSON.stringify(run.errors)}`);
    const archive = (await s.call("GET", "/v1/archives?limit=200")).items.find((a: any) => a.runId === runId);
    const seconds = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
    return { exported: run.progress.exported, seconds, bytes: archive.sizeBytes, peakMiB: memory(s.pid).peak, highestSampledMiB: highest, startMiB };
  }

  // 1. Quota lifted.
  service = await startWith(1_000_000_000);
  const ic = await service.call("POST", "/v1/iclients", { name: "bench", application: "gmail", ...client });
  const connectionId = await service.connect(ic.id, email, { concurrencyLevel: 25 });
  const flow = await service.call("POST", "/v1/flows", { name: "backup", source: { connectionId, export: { format: "raw" } }, destinations: [{ application: "archive" }] });
  say(`backup of ${N.toLocaleString("en")} messages, quota lifted (service pid ${service.pid}, ${out ? "compiled" : "tsx"})`);
  const lifted = await backup(service, flow.id);
  await service.stop();
  const liftedLog = service.logSummary();

  // 2. Google's per-user quota enforced by the emulator, and the service's default budget.
  await admin("PUT", "/settings", { quotaUnitsPerMinute: USER_QUOTA });
  service = await startWith(USER_QUOTA);
  say(`backup with the per-user quota enforced (${USER_QUOTA} units/min): measuring ${ENFORCED_SECONDS} s after a 15 s warm-up`);
  await admin("POST", "/stats/reset");
  const enforced = await backup(service, flow.id, ENFORCED_SECONDS);
  const refused = (await admin("GET", "/stats")).users?.[email];
  await service.stop();

  const ceiling = USER_QUOTA / (GET_UNITS * (1 + 1 / 500)); // messages.get plus one listing page per 500
  const perMin = (r: Result) => (r.exported / r.seconds) * 60;
  const fmt = (n: number) => Math.round(n).toLocaleString("en");
  console.log(`\nservice: ${out ? "node (compiled)" : "tsx"}, Node ${process.version}, ${pgDb ? "PostgreSQL" : "embedded PGlite"}, single process; emulator in its own process`);
  console.log(`quota lifted: ${fmt(lifted.exported)} messages in ${lifted.seconds.toFixed(1)} s`);
  console.log(`  messages/min                          ${fmt(perMin(lifted))}   (target ≥ 10,000)`);
  console.log(`  archive bytes/s                       ${fmt(lifted.bytes / lifted.seconds)}   (${(lifted.bytes / 1024 ** 2).toFixed(0)} MB archive)`);
  console.log(`  service RSS before / highest sampled  ${MB(lifted.startMiB)} / ${MB(lifted.highestSampledMiB)}`);
  console.log(`  service peak RSS (VmHWM)              ${MB(lifted.peakMiB)}   (target ≤ 256 MB)`);
  console.log(`  service log                           ${liftedLog}`);
  console.log(`quota enforced (${USER_QUOTA} units/min per user): ${fmt(enforced.exported)} messages in a ${enforced.seconds.toFixed(0)} s window`);
  console.log(`  messages/min                          ${fmt(perMin(enforced))}   of a ceiling of ${fmt(ceiling)} (${((perMin(enforced) / ceiling) * 100).toFixed(1)} %)`);
  console.log(`  emulator: requests / quota units      ${refused ? `${fmt(refused.requests)} / ${fmt(refused.quotaUnits)}` : "n/a"}`);
  console.log(`  service peak RSS (VmHWM)              ${MB(enforced.peakMiB)}`);
  console.log(`  service log                           ${service.logSummary()}`);
  console.log(`emulator peak RSS (VmHWM)               ${MB(memory(google.pid).peak)}   (${N.toLocaleString("en")} messages held)`);
} finally {
  await service?.stop();
  await google?.close();
  await rm(dataDir, { recursive: true, force: true });
  await pgDb?.drop();
  if (out) await rm(out, { recursive: true, force: true });
}
process.exit(0);
