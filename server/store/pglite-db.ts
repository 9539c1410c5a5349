import { PGlite } from "@electric-sql/pglite";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Db, Queryable } from "./db.ts";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.ts";

/**
 * Embedded PostgreSQL (PGlite) stored under `dataDir/pgdata`, or in memory for
 * `memory://`. The directory is locked first (data-dir-lock.ts): a second
 * opener gets a DataDirInUseError and never touches the files.
 */
export async function openPglite(dataDir: string, opts: { role?: string } = {}): Promise<Db> {
  let dir: string | undefined;
  let lock: DataDirLock | undefined;
  let pg: PGlite;
  if (dataDir !== "memory://") {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    lock = await lockDataDir(dataDir, { role: opts.role });
    dir = path.join(dataDir, "pgdata");
  }
  try {
    if (dir) await mkdir(dir, { recursive: true, mode: 0o700 });
    pg = await PGlite.create(dir);
  } catch (err) {
    await lock?.release();
    throw err;
  }
  const run = (q: Pick<PGlite, "query">): Queryable => ({
    async query(sql, params) {
      const res = await q.query(sql, params as any[]);
      return res.rows as any[];
    },
  });
  return {
    kind: "pglite",
    ...run(pg),
    tx: (fn) => pg.transaction((t) => fn(run(t))),
    dataDirLock: lock,
    async close() {
      try {
        await pg.close();
      } finally {
        await lock?.release();
      }
    },
  };
}
