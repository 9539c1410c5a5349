/**
 * The store backends every contract suite runs against: embedded PGlite
 * (always) and a real PostgreSQL server (a fresh database per suite, dropped
 * afterwards) when `.ci/run` provides one.
 */
import pg from "pg";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDb, type Db } from "../../core/store/db.ts";
import { testDatabaseUrl, uniqueName } from "./services.ts";

export interface TestDb {
  db: Db;
  /** Set for PostgreSQL: the URL of this suite's own database. */
  databaseUrl?: string;
  dataDir: string;
  close(): Promise<void>;
}

export interface Backend {
  name: "pglite" | "postgres";
  open(): Promise<TestDb>;
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "mailbridge-test-"));
}

/** A fresh, empty PostgreSQL database on the test server; returns its URL and a drop function. */
export async function freshPostgresDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName("mb");
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const pgliteBackend: Backend = {
  name: "pglite",
  async open() {
    const dataDir = await tempDir();
    const db = await openDb({ dataDir });
    return {
      db,
      dataDir,
      async close() {
        await db.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresBackend: Backend | undefined = testDatabaseUrl
  ? {
      name: "postgres",
      async open() {
        const dataDir = await tempDir();
        const fresh = await freshPostgresDatabase(testDatabaseUrl!);
        const db = await openDb({ dataDir, databaseUrl: fresh.url });
        return {
          db,
          databaseUrl: fresh.url,
          dataDir,
          async close() {
            await db.close();
            await fresh.drop();
            await rm(dataDir, { recursive: true, force: true });
          },
        };
      },
    }
  : undefined;

/** Every backend available here: PGlite always, PostgreSQL when configured (always under CI). */
export const backends: Backend[] = [pgliteBackend, ...(postgresBackend ? [postgresBackend] : [])];
