/**
 * A new embedded data directory is made by a child process beside the target
 * and renamed into place: what a start killed half way leaves behind (a staging
 * folder, an empty pgdata) never blocks the next start, and data written
 * before survives a reopen.
 */
import { mkdtemp, mkdir, writeFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openPglite } from "../../core/store/pglite-db.ts";

describe("embedded data directory creation", () => {
  it("clears a half-made staging folder and an empty pgdata, then keeps what was written across a reopen", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "mb-init-"));
    await mkdir(path.join(dataDir, "pgdata.init"), { recursive: true });
    await writeFile(path.join(dataDir, "pgdata.init", "PG_VERSION"), "half");
    await mkdir(path.join(dataDir, "pgdata"));
    const db = await openPglite(dataDir);
    await db.query("CREATE TABLE kept (v text)");
    await db.query("INSERT INTO kept VALUES ($1)", ["still here"]);
    const [{ shared_buffers }] = await db.query<{ shared_buffers: string }>("SHOW shared_buffers");
    expect(shared_buffers).toBe("16MB");
    await db.close();
    expect(await readdir(dataDir)).not.toContain("pgdata.init");
    const again = await openPglite(dataDir);
    expect(await again.query("SELECT v FROM kept")).toEqual([{ v: "still here" }]);
    await again.close();
  }, 120_000);
});
