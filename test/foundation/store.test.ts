import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends, freshPostgresDatabase, postgresBackend } from "../support/db.ts";
import { testDatabaseUrl } from "../support/services.ts";
import { openDb } from "../../core/store/db.ts";
import { migrate } from "../../core/store/migrate.ts";
import { AccountStore } from "../../server/accounts/account-store.ts";
import { mkdtemp } from "node:fs/promises";
import pg from "pg";
import os from "node:os";
import path from "node:path";

describe.each(backends)("store contract on $name", (backend) => {
  let t: Awaited<ReturnType<typeof backend.open>>;
  beforeAll(async () => {
    t = await backend.open();
  });
  afterAll(() => t.close());

  it("records every migration once and applies nothing twice", async () => {
    const before = await t.db.query<{ id: number }>("SELECT id FROM schema_migrations ORDER BY id");
    expect(before.length).toBeGreaterThan(0);
    expect(await migrate(t.db)).toEqual([]);
    expect(await t.db.query("SELECT id FROM schema_migrations ORDER BY id")).toEqual(before);
  });

  it("commits a transaction when it resolves and rolls it back when it throws", async () => {
    const accounts = new AccountStore(t.db);
    await expect(
      t.db.tx(async (q) => {
        await q.query("INSERT INTO accounts (id, name) VALUES ('acc_rollback', 'rollback')");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await accounts.byName("rollback")).toBeUndefined();
    await t.db.tx((q) => q.query("INSERT INTO accounts (id, name) VALUES ('acc_commit', 'commit')"));
    expect(await accounts.byName("commit")).toMatchObject({ id: "acc_commit" });
  });

  it("bootstraps the default account once, with a generated token printed once", async () => {
    const accounts = new AccountStore(t.db);
    const first = await accounts.bootstrap();
    expect(first.generatedToken).toMatch(/^mb_/);
    const second = await accounts.bootstrap();
    expect(second.generatedToken).toBeUndefined();
    expect(second.account.id).toBe(first.account.id);
    expect(await accounts.byToken(first.generatedToken!)).toMatchObject({ name: "default", isAdmin: true });
  });

  it("keeps sessions until they expire", async () => {
    const accounts = new AccountStore(t.db);
    const { account } = await accounts.bootstrap();
    const live = await accounts.createSession(account.id);
    const dead = await accounts.createSession(account.id, -1000);
    expect(await accounts.bySession(live.sessionId)).toMatchObject({ id: account.id });
    expect(await accounts.bySession(dead.sessionId)).toBeUndefined();
  });
});

describe.skipIf(!postgresBackend)("a PostgreSQL connection lost while idle", () => {
  it("is replaced by the pool: the next query works and the process goes on", async () => {
    const fresh = await freshPostgresDatabase(testDatabaseUrl!);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "mb-idle-"));
    const lost: Error[] = [];
    const db = await openDb({ dataDir, databaseUrl: fresh.url, onIdleError: (err) => lost.push(err) });
    try {
      expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
      // The server ends every connection to this database, as a restart or failover would.
      const admin = new pg.Client({ connectionString: testDatabaseUrl! });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [new URL(fresh.url).pathname.slice(1)]);
      await admin.end();
      for (let i = 0; i < 50 && lost.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(lost.length).toBeGreaterThan(0);
      expect(await db.query("SELECT 2 AS two")).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});

describe.skipIf(!postgresBackend)("migrations on one PostgreSQL from several processes at once", () => {
  it("applies each migration exactly once when four openers race", async () => {
    const fresh = await freshPostgresDatabase(testDatabaseUrl!);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "mb-race-"));
    try {
      const dbs = await Promise.all([1, 2, 3, 4].map(() => openDb({ dataDir, databaseUrl: fresh.url })));
      const rows = await dbs[0]!.query<{ id: number; n: number }>("SELECT id, count(*)::int AS n FROM schema_migrations GROUP BY id");
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.n === 1)).toBe(true);
      await Promise.all(dbs.map((d) => d.close()));
    } finally {
      await fresh.drop();
    }
  });
});
