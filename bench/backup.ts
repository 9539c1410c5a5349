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
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { consent, googleEnv } from "../test/support/google.ts";
import { freePort } from "../test/ui/support/service.ts";
import { freshPostgresDatabase } from "../test/support/db.ts";

const args = process.argv.slice(2);
const N = Number(args.find((a) => !a.startsWith("--")) ?? process.env.N ?? 100_000);
/** `--postgres`: the service on a fresh PostgreSQL database (TEST_DATABASE_URL) instead of embedded PGlite. */
const POSTGRES = args.includes("--postgres") ? (process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL) : undefined;
if (args.includes("--postgres") && !POSTGRES) throw new Error("--postgres needs TEST_DATABASE_URL (or DATABASE_URL): a server to create a fresh database on");
const ENFORCED_SECONDS = Number(process.env.ENFORCED_SECONDS ?? 120);
/** Google's per-user quota today (GOOGLE.md), and the service's default budget. */
const USER_QUOTA = 6_000;
const GET_UNITS = 5;
const REPO = fileURLToPath(new URL("../", import.meta.url));
const MB = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
if (!Number.isInteger(N) || N < 1) throw new Error(`the message count must be a positive integer, got ${process.argv[2]}`);

/** VmRSS and VmHWM (peak) of a process, in kB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** Where the compiled service and emulator are, or undefined to run the source through tsx. */
async function compile(): Promise<string | undefined> {
  if (process.env.SERVICE === "tsx") return undefined;
  if (!existsSync(path.join(REPO, "web/dist/index.html"))) {
    say("web/dist is missing (npm run build:web): running the source through tsx");
    return undefined;
  }
  await mkdir(path.join(REPO, "test-artifacts"), { recursive: true });
  const out = await mkdtemp(path.join(REPO, "test-artifacts", "bench-backup-"));
  say(`compiling into ${path.relative(REPO, out)}`);
  const build = spawnSync(process.execPath, ["scripts/build-server.mjs", out], { cwd: REPO, stdio: "inherit" });
  if (build.status !== 0) throw new Error("the build failed");
  return out;
}

function node(out: string | undefined, entry: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // tsx through --import, not its CLI: the CLI would be a second process around the program.
  const argv = out ? [path.join(out, `${entry}.js`), ...args] : ["--import", "tsx", `${entry}.ts`, ...args];
  return spawn(process.execPath, argv, { cwd: REPO, env, stdio: ["ignore", "pipe", "inherit"] });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function json(url: string, init: RequestInit & { token?: string } = {}): Promise<any> {
  const res = await fetch(url, {
    ...init,
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body ? { "content-type": "application/json" } : {}) },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

interface Result {
  exported: number;
  seconds: number;
  bytes: number;
  peakKb: number;
  highestSampledKb: number;
  startKb: number;
}

const out = await compile();
const children: ChildProcess[] = [];
const dataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-backup-"));
const pgDb = POSTGRES ? await freshPostgresDatabase(POSTGRES) : undefined;
try {
  // The emulator, alone in its process: it prints its base URL.
  const emulator = node(out, "emulator/main", ["--port", "0"], { ...process.env });
  children.push(emulator);
  const base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: emulator.stdout! }).once("line", (line) => resolve(line.trim()));
    emulator.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)));
  });
  const admin = (method: string, p: string, body?: unknown) => json(`${base}/_admin${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  await admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
  const email = "backup@example.com";
  say(`seeding ${N.toLocaleString("en")} messages in the emulator (pid ${emulator.pid})`);
  const seeded = Date.now();
  for (let made = 0; made < N; made += 10_000) {
    const count = Math.min(10_000, N - made);
    await admin("POST", "/users", { email, generate: { count } });
  }
  say(`seeded in ${((Date.now() - seeded) / 1000).toFixed(0)} s`);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const token = `mb_bench_${randomBytes(12).toString("hex")}`;
  const clientId = `${randomBytes(6).toString("hex")}.apps.googleusercontent.com`;
  const clientSecret = `GOCSPX-${randomBytes(12).toString("base64url")}`;
  await admin("POST", "/clients", { clientId, clientSecret, redirectUris: [`${url}/oauth2/callback`] });

  async function startService(quota: number): Promise<ChildProcess> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      PUBLIC_URL: url,
      DATA_DIR: dataDir,
      ADMIN_TOKEN: token,
      LOG_LEVEL: "warn",
      GMAIL_USER_QUOTA_UNITS_PER_MINUTE: String(quota),
      ...googleEnv(base),
    };
    for (const key of ["DATABASE_URL", "REDIS_URL", "GOOGLE_SANDBOX", "ARCHIVE_DIR"]) delete env[key];
    if (pgDb) env.DATABASE_URL = pgDb.url;
    const child = node(out, "server/main", [], env);
    child.stdout!.resume();
    children.push(child);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
      if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return child;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the service was not ready within 120 s");
  }
  const api = (method: string, p: string, body?: unknown) => json(url + p, { method, token, body: body === undefined ? undefined : JSON.stringify(body) });

  /** One backup run; `windowSeconds`: measure that long after a warm-up, then cancel. */
  async function backup(service: ChildProcess, flowId: string, windowSeconds?: number): Promise<Result> {
    const pid = service.pid!;
    const startKb = memory(pid).rss;
    const { runId } = await api("POST", `/v1/flows/${flowId}/run`);
    let highest = startKb;
    let lastSaid = Date.now();
    let run: any;
    let window: { t0: number; e0: number } | undefined;
    const warmUpMs = 15_000;
    const began = performance.now();
    for (;;) {
      highest = Math.max(highest, memory(pid).rss);
      run = await api("GET", `/v1/runs/${runId}`);
      const now = performance.now();
      if (!["queued", "running"].includes(run.status)) break;
      if (windowSeconds !== undefined) {
        if (!window && now - began >= warmUpMs) window = { t0: now, e0: run.progress.exported };
        if (window && now - window.t0 >= windowSeconds * 1000) {
          await api("POST", `/v1/runs/${runId}/cancel`);
          return { exported: run.progress.exported - window.e0, seconds: (now - window.t0) / 1000, bytes: NaN, peakKb: memory(pid).peak, highestSampledKb: highest, startKb };
        }
      }
      if (Date.now() - lastSaid > 10_000) {
        lastSaid = Date.now();
        say(`${run.progress.exported.toLocaleString("en")} exported, RSS ${MB(memory(pid).rss)}, highest ${MB(highest)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (run.status !== "succeeded") throw new Error(`run ${run.status}: ${JSON.stringify(run.errors)}`);
    const archive = (await api("GET", "/v1/archives?limit=200")).items.find((a: any) => a.runId === runId);
    const seconds = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
    return { exported: run.progress.exported, seconds, bytes: archive.sizeBytes, peakKb: memory(pid).peak, highestSampledKb: highest, startKb };
  }

  // 1. Quota lifted.
  let service = await startService(1_000_000_000);
  const ic = await api("POST", "/v1/iclients", { name: "bench", application: "gmail", clientId, clientSecret });
  const con = await api("POST", "/v1/connections", { name: "bench", application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id, concurrencyLevel: 25 });
  const { authorizeUrl } = await api("POST", `/v1/connections/${con.id}/authorize`);
  const { redirect } = await consent(authorizeUrl, { email });
  if (!(await fetch(url + redirect.pathname + redirect.search)).ok) throw new Error("authorization failed");
  const flow = await api("POST", "/v1/flows", { name: "backup", source: { connectionId: con.id, export: { format: "raw" } }, destinations: [{ application: "archive" }] });
  say(`backup of ${N.toLocaleString("en")} messages, quota lifted (service pid ${service.pid}, ${out ? "compiled" : "tsx"})`);
  const lifted = await backup(service, flow.id);
  await stop(service);

  // 2. Google's per-user quota enforced by the emulator, and the service's default budget.
  await admin("PUT", "/settings", { quotaUnitsPerMinute: USER_QUOTA });
  service = await startService(USER_QUOTA);
  say(`backup with the per-user quota enforced (${USER_QUOTA} units/min): measuring ${ENFORCED_SECONDS} s after a 15 s warm-up`);
  await admin("POST", "/stats/reset");
  const enforced = await backup(service, flow.id, ENFORCED_SECONDS);
  const refused = (await admin("GET", "/stats")).users?.[email];
  await stop(service);

  const ceiling = USER_QUOTA / (GET_UNITS * (1 + 1 / 500)); // messages.get plus one listing page per 500
  const perMin = (r: Result) => (r.exported / r.seconds) * 60;
  const fmt = (n: number) => Math.round(n).toLocaleString("en");
  console.log(`\nservice: ${out ? "node (compiled)" : "tsx"}, Node ${process.version}, ${pgDb ? "PostgreSQL" : "embedded PGlite"}, single process; emulator in its own process`);
  console.log(`quota lifted: ${fmt(lifted.exported)} messages in ${lifted.seconds.toFixed(1)} s`);
  console.log(`  messages/min                          ${fmt(perMin(lifted))}   (target ≥ 10,000)`);
  console.log(`  archive bytes/s                       ${fmt(lifted.bytes / lifted.seconds)}   (${(lifted.bytes / 1024 ** 2).toFixed(0)} MB archive)`);
  console.log(`  service RSS before / highest sampled  ${MB(lifted.startKb)} / ${MB(lifted.highestSampledKb)}`);
  console.log(`  service peak RSS (VmHWM)              ${MB(lifted.peakKb)}   (target ≤ 256 MB)`);
  console.log(`quota enforced (${USER_QUOTA} units/min per user): ${fmt(enforced.exported)} messages in a ${enforced.seconds.toFixed(0)} s window`);
  console.log(`  messages/min                          ${fmt(perMin(enforced))}   of a ceiling of ${fmt(ceiling)} (${((perMin(enforced) / ceiling) * 100).toFixed(1)} %)`);
  console.log(`  emulator: requests / quota units      ${refused ? `${fmt(refused.requests)} / ${fmt(refused.quotaUnits)}` : "n/a"}`);
  console.log(`  service peak RSS (VmHWM)              ${MB(enforced.peakKb)}`);
} finally {
  for (const child of children.reverse()) await stop(child);
  await rm(dataDir, { recursive: true, force: true });
  await pgDb?.drop();
  if (out) await rm(out, { recursive: true, force: true });
}
process.exit(0);
