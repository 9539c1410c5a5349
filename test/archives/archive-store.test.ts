/**
 * ArchiveStore on each store backend: the archive a run writes (resumed after
 * a crash from its checkpointed size, byte-exact), and the check that every
 * process of a cluster uses the same ARCHIVE_DIR.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { createReadStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteBackend, postgresBackend, type TestDb } from "../support/db.ts";
import { ArchiveStore } from "../../server/archives/archive-store.ts";
import { mboxEntry, readMbox, type MboxEntryInput } from "../../connector/mbox.ts";
import { generatedMessage } from "./messages.ts";

const backends = [pgliteBackend, postgresBackend].filter((b) => b !== undefined);

describe.each(backends.map((b) => [b.name, b] as const))("ArchiveStore on %s", (_name, backend) => {
  let store: TestDb;
  let dir: string;
  let archives: ArchiveStore;
  const account = "acc_archive_test";
  const runId = "run_archive_test";

  beforeAll(async () => {
    store = await backend.open();
    dir = await mkdtemp(path.join(os.tmpdir(), "archive-store-"));
    await store.db.query("INSERT INTO accounts (id, name) VALUES ($1, 'archive test')", [account]);
    await store.db.query("INSERT INTO flows (id, account_id, name) VALUES ('flw_archive_test', $1, 'f')", [account]);
    await store.db.query("INSERT INTO flow_runs (id, account_id, flow_id) VALUES ($1, $2, 'flw_archive_test')", [runId, account]);
    archives = new ArchiveStore(store.db, { dir, reserveBytes: 0 });
    await archives.init();
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes a run's archive, resumes it after a crash from the checkpointed size, and finishes it", async () => {
    const inputs: MboxEntryInput[] = [];
    for (let i = 0; i < 6; i++) inputs.push({ raw: await generatedMessage(i), labels: ["Inbox", `L${i}`], internalDate: Date.UTC(2023, 1, i + 1), id: String(i) });

    const first = await archives.openRunArchive(account, runId, { name: "run backup" });
    expect(first.archive).toMatchObject({ origin: "run", runId, status: "writing", name: "run backup" });
    for (const m of inputs.slice(0, 3)) await first.writer.write(m);
    // The run checkpointed after message 3 (its page), wrote message 4, then died.
    await first.writer.flush();
    const checkpoint = first.writer.bytesWritten;
    expect(checkpoint).toBe(inputs.slice(0, 3).reduce((n, m) => n + mboxEntry(m).length, 0));
    expect((await readFile(first.path)).length).toBe(checkpoint);
    await first.writer.write(inputs[3]!);
    await first.writer.end();
    await expect(archives.openRunArchive(account, runId, { name: "run backup", resumeAtByte: 10 ** 9 })).rejects.toThrow(/fewer than its checkpoint/);
    const del = archives.delete(account, first.archive.id);
    await expect(del).rejects.toMatchObject({ code: "in_use" });

    const again = await archives.openRunArchive(account, runId, { name: "run backup", resumeAtByte: checkpoint });
    expect(again.archive.id).toBe(first.archive.id);
    expect(again.writer.bytesWritten).toBe(checkpoint);
    for (const m of inputs.slice(3)) await again.writer.write(m);
    await again.writer.end();
    const done = await archives.finishRunArchive(account, again.archive.id, { status: "complete", sizeBytes: again.writer.bytesWritten, messageCount: 6, firstDate: new Date(Date.UTC(2023, 1, 1)), lastDate: new Date(Date.UTC(2023, 1, 6)) });
    expect(done).toMatchObject({ status: "complete", messageCount: 6, sizeBytes: again.writer.bytesWritten, lastDate: "2023-02-06T00:00:00.000Z" });

    expect((await readFile(again.path)).equals(Buffer.concat(inputs.map(mboxEntry)))).toBe(true);
    const read = [];
    for await (const m of readMbox(createReadStream(again.path))) read.push(m);
    expect(read.map((m) => m.raw.toString("base64"))).toEqual(inputs.map((m) => m.raw.toString("base64")));
    expect((await archives.forRun(account, runId))?.id).toBe(done.id);
    expect((await archives.list(account)).items.map((a) => a.id)).toEqual([done.id]);
    await archives.delete(account, done.id);
    await expect(readFile(again.path)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses an upload over the size limit, announced or not, and keeps nothing", async () => {
    const small = new ArchiveStore(store.db, { dir, reserveBytes: 0, maxBytes: 2000 });
    const mbox = Buffer.concat(await Promise.all([0, 1, 2, 3].map(async (i) => mboxEntry({ raw: await generatedMessage(i), labels: [], internalDate: 0 }))));
    expect(mbox.length).toBeGreaterThan(2000);
    const before = await readdir(dir, { recursive: true });
    await expect(small.importUpload(account, Readable.from([mbox]), { name: "big", contentLength: mbox.length })).rejects.toMatchObject({ code: "payload_too_large", status: 413 });
    const streamed = Readable.from([mbox.subarray(0, 1500), mbox.subarray(1500)]);
    await expect(small.importUpload(account, streamed, { name: "big" })).rejects.toMatchObject({ code: "payload_too_large" });
    expect(await readdir(dir, { recursive: true })).toEqual(before);
    expect((await small.list(account)).items.filter((a) => a.origin === "upload")).toEqual([]);
  });

  it("stops a process whose ARCHIVE_DIR is not the cluster's", async () => {
    // The same directory: fine, as often as processes start.
    await new ArchiveStore(store.db, { dir }).init();
    // A directory with another cluster's token.
    const foreign = await mkdtemp(path.join(os.tmpdir(), "archive-foreign-"));
    await writeFile(path.join(foreign, ".mailbridge-archive-dir"), "someone-else\n");
    await expect(new ArchiveStore(store.db, { dir: foreign }).init()).rejects.toThrow(/is not the directory the cluster's other processes use/);
    // An empty directory while the cluster has archives (one is uploaded here).
    await store.db.query("INSERT INTO archives (id, account_id, name, origin, file_name) VALUES ('arc_x', $1, 'x', 'upload', 'arc_x.mbox')", [account]);
    const empty = await mkdtemp(path.join(os.tmpdir(), "archive-empty-"));
    await expect(new ArchiveStore(store.db, { dir: empty }).init()).rejects.toThrow(/holds none of the cluster's archives/);
    await Promise.all([foreign, empty].map((d) => rm(d, { recursive: true, force: true })));
  });
});
