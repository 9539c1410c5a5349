/**
 * Memory of the service on the embedded default, read from /proc: RSS at the
 * first start on a new DATA_DIR (and its peak), idle, during a 10,000-message
 * flow export (peak), and at a later start on the same DATA_DIR.
 *
 *   npx tsx bench/memory.ts              # runs `node dist/server/main.js` (npm run build first)
 *   SERVICE=tsx npx tsx bench/memory.ts  # runs server/main.ts through tsx, for comparison
 *   N=2000 npx tsx bench/memory.ts       # a smaller export
 *
 * The service runs as a child process, exactly as `npm start`; the Google
 * emulator with the generated mailbox runs in this process, so its memory is
 * not counted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { consent, startGoogle } from "../test/support/google.ts";
import { freePort } from "../test/ui/support/service.ts";

const N = Number(process.env.N ?? 10_000);
const REPO = fileURLToPath(new URL("../", import.meta.url));
const useTsx = process.env.SERVICE === "tsx" || !existsSync(path.join(REPO, "dist/server/main.js"));
const MB = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/** VmRSS and VmHWM (peak) of a process, in kB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

async function startService(env: NodeJS.ProcessEnv, url: string): Promise<ChildProcess> {
  // tsx through --import, not its CLI: the CLI would be a second process around the service.
  const args = useTsx ? ["--import", "tsx", "server/main.ts"] : ["dist/server/main.js"];
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ["ignore", "ignore", "inherit"] });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the service did not start within 60 s");
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

const google = await startGoogle();
await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000_000 });
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const dataDir = await mkdtemp(path.join(tmpdir(), "mailbridge-memory-"));
const adminToken = `mb_mem_${randomBytes(12).toString("hex")}`;
const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", PUBLIC_URL: url, DATA_DIR: dataDir, ADMIN_TOKEN: adminToken, LOG_LEVEL: "warn", ...google.env };
for (const key of ["DATABASE_URL", "REDIS_URL", "GOOGLE_SANDBOX"]) delete env[key];
const rows: [string, string][] = [];
try {
  let service = await startService(env, url);
  const first = memory(service.pid!);
  rows.push(["first start (new DATA_DIR): RSS / peak", `${MB(first.rss)} / ${MB(first.peak)}`]);
  say(`started: ${rows.at(-1)![1]}`);
  await new Promise((r) => setTimeout(r, 5000));
  rows.push(["idle 5 s later: RSS", MB(memory(service.pid!).rss)]);

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const client = await google.newClient([`${url}/oauth2/callback`]);
  const email = await google.newUser("memory@example.com", { generate: N });
  const ic = await call("POST", "/v1/iclients", { name: "memory", application: "gmail", ...client });
  const con = await call("POST", "/v1/connections", { name: "memory", application: "gmail", scopes: ["https://mail.google.com/"], iClientId: ic.id, concurrencyLevel: 25 });
  const { authorizeUrl } = await call("POST", `/v1/connections/${con.id}/authorize`);
  const { redirect } = await consent(authorizeUrl, { email });
  if (!(await fetch(url + redirect.pathname + redirect.search)).ok) throw new Error("authorization failed");
  const flow = await call("POST", "/v1/flows", {
    name: "memory",
    source: { connectionId: con.id, export: { format: "metadata", attachments: "none", maxMessages: N } },
    destinations: [{ connectionId: con.id, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
  });
  const before = memory(service.pid!);
  const { runId } = await call("POST", `/v1/flows/${flow.id}/run`);
  say(`export of ${N} messages started, RSS ${MB(before.rss)}`);
  let lastSaid = Date.now();
  let run: any;
  let highest = before.rss;
  for (;;) {
    highest = Math.max(highest, memory(service.pid!).rss);
    run = await call("GET", `/v1/runs/${runId}`);
    if (!["queued", "running"].includes(run.status)) break;
    if (Date.now() - lastSaid > 10_000) {
      lastSaid = Date.now();
      say(`${run.progress?.exported ?? 0} exported, RSS ${MB(memory(service.pid!).rss)}, highest ${MB(highest)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (run.status !== "succeeded") throw new Error(`run ${run.status}: ${JSON.stringify(run.errors ?? run.error)}`);
  rows.push([`${run.progress.exported}-message export: RSS before / highest seen / peak`, `${MB(before.rss)} / ${MB(highest)} / ${MB(memory(service.pid!).peak)}`]);
  await stop(service);

  service = await startService(env, url);
  const later = memory(service.pid!);
  rows.push(["later start (same DATA_DIR): RSS / peak", `${MB(later.rss)} / ${MB(later.peak)}`]);
  await stop(service);
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
console.log(`\nservice: ${useTsx ? "tsx server/main.ts" : "node dist/server/main.js"}, Node ${process.version}`);
for (const [k, v] of rows) console.log(`${k.padEnd(58)} ${v}`);
process.exit(0);
