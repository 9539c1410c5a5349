/**
 * DATABASE_POOL_SIZE: how many PostgreSQL connections one process keeps at most. Read from the
 * environment (a whole number from 1 to 1000), and a real pool holds no more: queries beyond it
 * wait for a connection instead of opening another.
 */
import { describe, expect, it } from "vitest";
import { openPostgres } from "../../core/store/pg-db.ts";
import { ConfigError, DEFAULT_DATABASE_POOL_SIZE, loadConfig } from "../../server/config.ts";
import { freshPostgresDatabase } from "../support/db.ts";
import { testDatabaseUrl } from "../support/services.ts";

describe("DATABASE_POOL_SIZE", () => {
  it("defaults to 10, reads a whole number from 1 to 1000, and refuses anything else naming the variable", () => {
    expect(loadConfig({}, []).databasePoolSize).toBe(DEFAULT_DATABASE_POOL_SIZE);
    expect(DEFAULT_DATABASE_POOL_SIZE).toBe(10);
    expect(loadConfig({ DATABASE_POOL_SIZE: "40" }, []).databasePoolSize).toBe(40);
    for (const bad of ["0", "1.5", "lots", "1001"]) {
      expect(() => loadConfig({ DATABASE_POOL_SIZE: bad }, []), bad).toThrow(ConfigError);
      try {
        loadConfig({ DATABASE_POOL_SIZE: bad }, []);
      } catch (err) {
        expect((err as ConfigError).problems.join("\n"), bad).toContain("DATABASE_POOL_SIZE");
      }
    }
  });

  it.skipIf(!testDatabaseUrl)("a pool of 2 runs 6 concurrent queries on 2 server connections", async () => {
    const fresh = await freshPostgresDatabase(testDatabaseUrl!);
    const db = await openPostgres(fresh.url, undefined, 2);
    try {
      const rows = await Promise.all(Array.from({ length: 6 }, () => db.query<{ pid: number }>("SELECT pg_backend_pid() AS pid, pg_sleep(0.1)")));
      expect(new Set(rows.map((r) => r[0]!.pid)).size).toBe(2);
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});
