/**
 * API speed: requests/s of the list of 100 connections, a single connection
 * and `/healthz` (the same run's ceiling: no auth, no store), driven by
 * autocannon (its CLI, in a process of its own) against the real app on a
 * real socket. Besides requests/s it prints the CPU time this process spent
 * per request (PGlite runs on its main thread, so that is the whole cost on
 * the embedded store; PostgreSQL's own work is not in it): a figure a busy
 * machine does not distort the way it distorts requests/s.
 *
 *   npm run bench:api                 # embedded PGlite in a temporary DATA_DIR
 *   DATABASE_URL=postgres://… npm run bench:api   # also on PostgreSQL (a fresh database, dropped after)
 *
 * TEST_DATABASE_URL works like DATABASE_URL. DURATION (seconds, default 10) and
 * CONNECTIONS (default 10) tune autocannon. The app logs at LOG_LEVEL (default
 * info, as in production) into /dev/null, so logging is part of the cost.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildApp } from "../server/app.ts";
import { loadConfig } from "../server/config.ts";
import { openDb, type Db } from "../core/store/db.ts";
import { SecretBox } from "../core/secrets.ts";
import { AccountStore } from "../server/accounts/account-store.ts";
import { freshPostgresDatabase } from "../test/support/db.ts";

const AUTOCANNON = fileURLToPath(new URL("../node_modules/autocannon/autocannon.js", import.meta.url));

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);
const LOG_LEVEL = process.env.LOG_LEVEL ?? "info";
const postgresUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL;

/** Targets of the issue (requests/s). */
const TARGETS = {
  pglite: { list100: 1_500, single: 4_000 },
  postgres: { list100: 3_000, single: undefined },
} as const;

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** CPU time of this process per request, in µs. */
  cpuUs: number;
  target?: number;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

function autocannon(url: string, headers: Record<string, string>): Promise<AutocannonResult> {
  const args = [AUTOCANNON, "--json", "-c", String(CONNECTIONS), "-d", String(DURATION)];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}=${v}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...args, url], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`autocannon failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as AutocannonResult);
    });
  });
}

async function benchBackend(kind: "pglite" | "postgres"): Promise<Row[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mailbridge-bench-"));
  const pgDb = kind === "postgres" ? await freshPostgresDatabase(postgresUrl!) : undefined;
  const db: Db = await openDb({ dataDir, databaseUrl: pgDb?.url, role: "bench" });
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL, ...(pgDb ? { DATABASE_URL: pgDb.url } : {}) }, []);
  const devNull = createWriteStream("/dev/null");
  const secrets = new SecretBox([randomBytes(32)]);
  const app = await buildApp(config, { db, secrets, logger: { level: LOG_LEVEL, stream: devNull } });
  try {
    const { token } = await new AccountStore(db).create(`bench_${randomBytes(3).toString("hex")}`);
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const post = async (url: string, body: unknown) => {
      const res = await app.inject({ method: "POST", url, headers, payload: JSON.stringify(body) });
      if (res.statusCode !== 201) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`);
      return res.json();
    };
    const ic = await post("/v1/iclients", { name: "bench", application: "gmail", clientId: "bench.apps.googleusercontent.com", clientSecret: "bench-secret" });
    // 100 connections, a third of them borrowing (a chain to resolve per row), as an account really has them.
    let first = "";
    for (let i = 0; i < 100; i++) {
      const borrow = i % 3 === 2 ? { borrowConcurrencyFrom: first } : { concurrencyLevel: 1 + (i % 25) };
      const c = await post("/v1/connections", {
        name: `connection ${String(i).padStart(3, "0")}`,
        application: "gmail",
        scopes: ["https://www.googleapis.com/auth/gmail.readonly"],
        iClientId: ic.id,
        ...borrow,
      });
      if (i === 0) first = c.id;
    }
    // Two in three authorized, with sealed tokens of a real answer's size (an id_token is about 1 KB).
    const tokens = secrets.seal(
      JSON.stringify({ access_token: `ya29.${randomBytes(150).toString("base64url")}`, refresh_token: `1//${randomBytes(75).toString("base64url")}`, id_token: randomBytes(700).toString("base64url"), scope: "https://www.googleapis.com/auth/gmail.readonly", token_type: "Bearer", expiry_date: Date.now() + 3_600_000 }),
    );
    await db.query(
      `UPDATE connections SET status = 'online', email = 'user' || substr(id, 5, 6) || '@example.com', granted_scopes = scopes, missing_scopes = '[]'::jsonb,
              authorized_at = now(), tokens_sealed = $1, token_client_id = 'bench.apps.googleusercontent.com'
        WHERE id IN (SELECT id FROM connections ORDER BY created_at, id) AND right(name, 1) NOT IN ('0', '3', '6')`,
      [tokens],
    );
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    const run = async (name: string, url: string, target?: number): Promise<Row> => {
      const check = await fetch(base + url, { headers });
      if (!check.ok) throw new Error(`GET ${url}: ${check.status}`);
      if (url.includes("limit=100")) {
        const items = ((await check.json()) as { items: unknown[] }).items.length;
        if (items !== 100) throw new Error(`the list has ${items} items, not 100`);
      }
      const cpu = process.cpuUsage();
      const r = await autocannon(base + url, headers);
      const used = process.cpuUsage(cpu);
      if (r.non2xx || r.errors || r.timeouts) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
      const cpuUs = (used.user + used.system) / Math.max(1, r.requests.total);
      return { name: `${kind.padEnd(8)} ${name}`, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuUs, target };
    };
    return [
      await run("GET /healthz (ceiling)", "/healthz"),
      await run("GET /v1/connections?limit=100", "/v1/connections?limit=100", TARGETS[kind].list100),
      await run("GET /v1/connections/:id", `/v1/connections/${first}`, TARGETS[kind].single),
    ];
  } finally {
    await app.close();
    await db.close();
    await pgDb?.drop();
    await rm(dataDir, { recursive: true, force: true });
    devNull.end();
  }
}

const rows = await benchBackend("pglite");
if (postgresUrl) rows.push(...(await benchBackend("postgres")));
console.log(
  `\n${CONNECTIONS} connections, ${DURATION} s each, Node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)}, LOG_LEVEL=${LOG_LEVEL}`,
);
for (const r of rows) {
  const verdict = r.target === undefined ? "" : r.rps >= r.target ? `  ≥ ${r.target} ok` : `  < ${r.target} MISSED`;
  console.log(
    `${r.name.padEnd(42)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(4)} ms  ${r.cpuUs.toFixed(0).padStart(5)} µs CPU/req${verdict}`,
  );
}
