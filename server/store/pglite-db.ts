import { PGlite } from "@electric-sql/pglite";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Db, Queryable } from "./db.ts";

/** Embedded PostgreSQL (PGlite) stored under `dataDir/pgdata`, or in memory for `memory://`. */
export async function openPglite(dataDir: string): Promise<Db> {
  let dir: string | undefined;
  if (dataDir !== "memory://") {
    dir = path.join(dataDir, "pgdata");
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  const pg = await PGlite.create(dir);
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
    close: () => pg.close(),
  };
}
