/**
 * What the benchmarks that run the service and the Google emulator as processes of their own
 * share (bench/backup.ts, bench/trigger.ts): compiling them or running the source through tsx,
 * starting and stopping them, their memory and CPU read from /proc, and small helpers.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connectGoogle, consent, googleEnv, type TestGoogle } from "../test/support/google.ts";

export const REPO = fileURLToPath(new URL("../", import.meta.url));

/** A progress line on stderr, stamped with the time of day. */
export const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `fn` over `items`, `n` at a time. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

/** VmRSS and VmHWM (peak) of a process, in MiB; NaN when /proc cannot be read this time (out of file descriptors for a moment). */
export function memory(pid: number): { rss: number; peak: number } {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rss: NaN, peak: NaN };
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

/** CPU seconds (user + system) a process has used so far; NaN when /proc cannot be read. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * Where the compiled service and emulator are (scripts/build-server.mjs into a fresh folder
 * `test-artifacts/<prefix>…`, for the caller to remove), or undefined to run the source through
 * tsx: with SERVICE=tsx, or when web/dist is missing.
 */
export async function compile(prefix: string): Promise<string | undefined> {
  if (process.env.SERVICE === "tsx") return undefined;
  if (!existsSync(path.join(REPO, "web/dist/index.html"))) {
    say("web/dist is missing (npm run build:web): running the source through tsx");
    return undefined;
  }
  await mkdir(path.join(REPO, "test-artifacts"), { recursive: true });
  const out = await mkdtemp(path.join(REPO, "test-artifacts", prefix));
  say(`compiling into ${path.relative(REPO, out)}`);
  const build = spawnSync(process.execPath, ["scripts/build-server.mjs", out], { cwd: REPO, stdio: "inherit" });
  if (build.status !== 0) throw new Error("the build failed");
  return out;
}

/**
 * `entry` (`server/main`, `emulator/main`) in a node process of its own: compiled from `out`, or
 * the source through tsx. Killed when the bench exits, however it exits.
 */
export function node(out: string | undefined, entry: string, args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): ChildProcess {
  // tsx through --import, not its CLI: the CLI would be a second process around the program.
  const argv = [...nodeArgs, ...(out ? [path.join(out, `${entry}.js`)] : ["--import", "tsx", `${entry}.ts`]), ...args];
  const child = spawn(process.execPath, argv, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  const kill = () => child.kill("SIGKILL");
  process.on("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await exited;
  }
}

/** A JSON request; throws on a status that is not 2xx. */
export async function json(url: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<any> {
  const res = await fetch(url, {
    method: init.method,
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** The emulator in a process of its own, through the calls tests make; `close` stops it. */
export type GoogleProcess = TestGoogle & { pid: number };

export async function startGoogleProcess(out: string | undefined): Promise<GoogleProcess> {
  // BENCH_EMULATOR_PROF=<dir>: a V8 CPU profile of the emulator, written when it stops.
  const prof = process.env.BENCH_EMULATOR_PROF;
  const child = node(out, "emulator/main", ["--port", "0"], { ...process.env }, prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []);
  child.stderr!.pipe(process.stderr);
  // It prints its base URL once it listens.
  const base = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.trim()));
    child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)));
  });
  child.stdout!.resume();
  return { ...connectGoogle(base, () => stop(child)), pid: child.pid! };
}

/** What the service in its own process is started with. */
export interface ServiceOptions {
  /** From {@link compile}: the compiled folder, or undefined for the source through tsx. */
  out: string | undefined;
  port: number;
  dataDir: string;
  adminToken: string;
  /** The emulator's base URL. */
  google: string;
  /** PostgreSQL instead of the embedded database. */
  databaseUrl?: string;
  /** More settings, over the ones above. */
  env?: Record<string, string>;
  /** What answers 200 once it is up. @defaultValue "/readyz" */
  ready?: "/healthz" | "/readyz";
}

export interface Service {
  child: ChildProcess;
  pid: number;
  url: string;
  /** A call to its API as the admin. */
  call(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<any>;
  /** Authorize a new connection of `iClientId` for `email` end to end over HTTP; returns its id. */
  connect(iClientId: string, email: string, opts?: { concurrencyLevel?: number; from?: string }): Promise<string>;
  /** Its log at LOG_LEVEL=warn, counted: "N warnings, M errors; first error: …". */
  logSummary(): string;
  stop(): Promise<void>;
}

/**
 * The service (`server/main`) in its own process on `port`, as `npm start` runs it, on the
 * embedded database unless `databaseUrl`; resolves once `ready` answers. BENCH_CPU_PROF=<dir>
 * writes a CPU profile of it there when it stops.
 */
export async function startService(o: ServiceOptions): Promise<Service> {
  const url = `http://127.0.0.1:${o.port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(o.port),
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    DATA_DIR: o.dataDir,
    ADMIN_TOKEN: o.adminToken,
    LOG_LEVEL: "warn",
    ...googleEnv(o.google),
  };
  for (const key of ["DATABASE_URL", "REDIS_URL", "GOOGLE_SANDBOX", "ARCHIVE_DIR"]) delete env[key];
  if (o.databaseUrl) env.DATABASE_URL = o.databaseUrl;
  Object.assign(env, o.env);
  const prof = process.env.BENCH_CPU_PROF;
  const child = node(o.out, "server/main", [], env, prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : []);

  // pino at LOG_LEVEL=warn on stdout, anything else (a crash) on stderr: counted, not kept whole.
  const log = { warnings: 0, errors: 0, firstWarning: "", firstError: "", tail: [] as string[] };
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      if (/"level":40/.test(line)) {
        log.warnings++;
        log.firstWarning ||= line;
      } else if (/"level":(50|60)/.test(line)) {
        log.errors++;
        log.firstError ||= line;
      }
      log.tail.push(line);
      if (log.tail.length > 40) log.tail.shift();
    });
  }
  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) => json(url + p, { method, token: o.adminToken, body, headers });
  const service: Service = {
    child,
    pid: child.pid!,
    url,
    call,
    async connect(iClientId, email, opts = {}) {
      const con = await call("POST", "/v1/connections", { name: `c ${email}`, application: "gmail", scopes: ["https://mail.google.com/"], iClientId, ...(opts.concurrencyLevel ? { concurrencyLevel: opts.concurrencyLevel } : {}) });
      const { authorizeUrl } = await call("POST", `/v1/connections/${con.id}/authorize`);
      const { redirect } = await consent(authorizeUrl, { email });
      // `from`: the address the callback comes from, through a trusted proxy (TRUST_PROXY).
      const res = await fetch(url + redirect.pathname + redirect.search, { headers: opts.from ? { "x-forwarded-for": opts.from } : {} });
      if (!res.ok) throw new Error(`authorize ${email}: ${res.status}`);
      return con.id as string;
    },
    logSummary: () => `${log.warnings} warnings, ${log.errors} errors${log.errors ? `; first error: ${log.firstError.slice(0, 400)}` : log.warnings ? `; first warning: ${log.firstWarning.slice(0, 400)}` : ""}`,
    stop: () => stop(child),
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited with ${child.exitCode ?? child.signalCode}: ${log.tail.join("\n").slice(-2000)}`);
    if (await fetch(url + (o.ready ?? "/readyz")).then((r) => r.ok, () => false)) return service;
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error("the service was not ready within 120 s");
    }
    await sleep(100);
  }
}
