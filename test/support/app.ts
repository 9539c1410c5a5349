/**
 * A whole service app on a fresh store, as `server/main.ts` assembles it,
 * for tests that go through the HTTP API with `app.inject()` or real HTTP.
 */
import type { FastifyInstance } from "fastify";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { buildApp, type AppDeps } from "../../server/app.ts";
import { loadConfig, type Config } from "../../server/config.ts";
import { SecretBox } from "../../core/secrets.ts";
import { AccountStore } from "../../server/accounts/account-store.ts";
import { pgliteBackend, type Backend, type TestDb } from "./db.ts";

export interface TestApp {
  app: FastifyInstance;
  config: Readonly<Config>;
  store: TestDb;
  /** The key box the app seals secrets with (to read sealed rows in assertions). */
  secrets: SecretBox;
  adminToken: string;
  /** Every log line the app wrote, to check that no secret leaks. */
  logs: string[];
  /** Create another account and return its token. */
  newAccount(name?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestApp(opts: {
  backend?: Backend;
  env?: Record<string, string>;
  deps?: Partial<AppDeps>;
  /** Reuse an open store (a second "process" on the same database). */
  store?: TestDb;
  secrets?: SecretBox;
} = {}): Promise<TestApp> {
  const store = opts.store ?? (await (opts.backend ?? pgliteBackend).open());
  // Suites not about the quota do not pace to Google's 6,000 units a minute (a send is 100): the
  // emulator's own quota still applies. Suites about it set both sides themselves (test/quota).
  const config = loadConfig({ DATA_DIR: store.dataDir, LOG_LEVEL: "info", GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "1000000", ...opts.env }, []);
  const secrets = opts.secrets ?? new SecretBox([randomBytes(32)]);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const app = await buildApp(config, { db: store.db, secrets, logger: { level: "info", stream }, ...opts.deps });
  await app.ready();
  const accounts = new AccountStore(store.db);
  const adminToken = `mb_test_admin_${randomBytes(12).toString("hex")}`;
  await accounts.bootstrap(adminToken);
  const ownsStore = !opts.store;
  let n = 0;
  return {
    app,
    config,
    store,
    secrets,
    adminToken,
    logs,
    async newAccount(name = `acct${++n}_${randomBytes(3).toString("hex")}`) {
      return (await accounts.create(name)).token;
    },
    async close() {
      await app.close();
      if (ownsStore) await store.close();
    },
  };
}

/** `app.inject` with a bearer token and a JSON body. */
export function api(app: FastifyInstance, token: string) {
  const call = (method: "GET" | "POST" | "PATCH" | "DELETE" | "PUT", url: string, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
  return {
    get: (url: string) => call("GET", url),
    post: (url: string, body?: unknown) => call("POST", url, body ?? {}),
    patch: (url: string, body: unknown) => call("PATCH", url, body),
    put: (url: string, body: unknown) => call("PUT", url, body),
    delete: (url: string) => call("DELETE", url),
  };
}
