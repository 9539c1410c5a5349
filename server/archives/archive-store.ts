/**
 * Archives of an account: mbox files in one directory (`ARCHIVE_DIR`, by
 * default `DATA_DIR/archives`) with their metadata in the database. Every query
 * is scoped by account: another account's archive answers 404 like a missing one.
 *
 * An upload is streamed through the mbox parser into `.tmp/<id>.part` and renamed
 * into place only once the whole file parsed; its row is inserted after the
 * rename, so a row never names a partial file. Bad or truncated input, a full
 * disk or a dropped request leave neither a file nor a row behind.
 */
import { createWriteStream as fsCreateWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, stat, statfs as fsStatfs, truncate, unlink, writeFile } from "node:fs/promises";
import { once } from "node:events";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import type { Db } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import { ApiError, notFound } from "../../core/errors.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../../core/paging.ts";
import { MboxFormatError, MboxParser, MboxWriter } from "../../connector/mbox.ts";
import { toArchive, type Archive, type ArchiveRow } from "./archive.ts";

/** Largest upload (SPEC §2 "Archives"): 10 GiB. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 10 * 1024 ** 3;
/** Free space kept on the disk beyond what an archive needs. */
export const DEFAULT_RESERVE_BYTES = 256 * 1024 ** 2;
/** During an upload of unknown length the free space is looked at again after every this many bytes. */
const SPACE_RECHECK_BYTES = 64 * 1024 ** 2;
/** Temporary files older than this are left by a process that died: removed at start. */
const STALE_TMP_MS = 24 * 3600 * 1000;
const TOKEN_FILE = ".mailbridge-archive-dir";

/** The file system calls an archive store makes that tests replace (a full disk). */
export interface ArchiveFs {
  createWriteStream(file: string, opts?: { flags?: string; start?: number }): Writable;
  statfs(dir: string): Promise<{ bavail: number | bigint; bsize: number | bigint }>;
}

export interface ArchiveStoreOptions {
  dir: string;
  fs?: Partial<ArchiveFs>;
  /** @defaultValue {@link DEFAULT_MAX_ARCHIVE_BYTES} */
  maxBytes?: number;
  /** @defaultValue {@link DEFAULT_RESERVE_BYTES} */
  reserveBytes?: number;
}

const isDiskFull = (err: unknown) => ["ENOSPC", "EDQUOT", "EFBIG"].includes((err as { code?: string })?.code ?? "");

export class ArchiveStore {
  readonly dir: string;
  private readonly tmpDir: string;
  private readonly fs: ArchiveFs;
  private readonly maxBytes: number;
  private readonly reserve: number;

  constructor(
    private readonly db: Db,
    opts: ArchiveStoreOptions,
  ) {
    this.dir = opts.dir;
    this.tmpDir = path.join(opts.dir, ".tmp");
    this.fs = { createWriteStream: fsCreateWriteStream as ArchiveFs["createWriteStream"], statfs: fsStatfs, ...opts.fs };
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_ARCHIVE_BYTES;
    this.reserve = opts.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  }

  /** Create the directory, drop stale temporary files, and check that it is the cluster's one. */
  async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    for (const name of await readdir(this.tmpDir)) {
      const file = path.join(this.tmpDir, name);
      const st = await stat(file).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_TMP_MS) await unlink(file).catch(() => {});
    }
    await this.checkShared();
  }

  /**
   * Every process of a cluster must see the same directory: the first one writes a token into
   * it and the database; a later one that finds another token, or none while the cluster
   * already has archives, stops with a clear message.
   */
  async checkShared(): Promise<void> {
    const file = path.join(this.dir, TOKEN_FILE);
    const read = () => readFile(file, "utf8").then((t) => t.trim(), (e) => (e.code === "ENOENT" ? undefined : Promise.reject(e)));
    let onDisk = await read();
    await this.db.query("INSERT INTO archive_dir_token (token) VALUES ($1) ON CONFLICT DO NOTHING", [onDisk ?? randomBytes(16).toString("hex")]);
    const [{ token }] = await this.db.query<{ token: string }>("SELECT token FROM archive_dir_token");
    if (onDisk === undefined) {
      const [{ n }] = await this.db.query<{ n: string }>("SELECT count(*) AS n FROM archives");
      if (Number(n) > 0) throw new Error(`ARCHIVE_DIR ${this.dir} holds none of the cluster's archives: every process must use the same shared directory.`);
      await writeFile(file, `${token}\n`, { flag: "wx" }).catch((e) => (e.code === "EEXIST" ? undefined : Promise.reject(e)));
      onDisk = await read();
    }
    if (onDisk !== token) throw new Error(`ARCHIVE_DIR ${this.dir} is not the directory the cluster's other processes use: every process must use the same shared directory.`);
  }

  async list(accountId: string, page: PageRequest = {}): Promise<Page<Archive>> {
    const limit = pageLimit(page);
    const filter = pageFilter(page, 2);
    const rows = await this.db.query<ArchiveRow>(
      `SELECT * FROM archives WHERE account_id = $1${filter.sql} ORDER BY created_at, id LIMIT ${limit + 1}`,
      [accountId, ...filter.params],
    );
    return toPage(rows, limit, toArchive);
  }

  async get(accountId: string, id: string): Promise<Archive> {
    return toArchive(await this.row(accountId, id));
  }

  /** The archive and the absolute path of its file. */
  async file(accountId: string, id: string): Promise<{ archive: Archive; path: string; fileName: string }> {
    const row = await this.row(accountId, id);
    return { archive: toArchive(row), path: path.join(this.dir, row.file_name), fileName: row.file_name };
  }

  /** The archive a run wrote, if any. */
  async forRun(accountId: string, runId: string): Promise<Archive | undefined> {
    const [row] = await this.db.query<ArchiveRow>("SELECT * FROM archives WHERE account_id = $1 AND run_id = $2", [accountId, runId]);
    return row && toArchive(row);
  }

  /** Delete the row, then the file; 409 while a run still writes it. */
  async delete(accountId: string, id: string): Promise<void> {
    const [row] = await this.db.query<ArchiveRow>("DELETE FROM archives WHERE account_id = $1 AND id = $2 AND status <> 'writing' RETURNING *", [accountId, id]);
    if (!row) {
      await this.row(accountId, id); // 404 when it does not exist
      throw new ApiError("in_use", "A run is still writing this archive.");
    }
    await unlink(path.join(this.dir, row.file_name)).catch((e) => (e.code === "ENOENT" ? undefined : Promise.reject(e)));
  }

  /** Refuse with 507 when the disk cannot take `bytes` more and keep its reserve. */
  async ensureSpace(bytes: number): Promise<void> {
    const { bavail, bsize } = await this.fs.statfs(this.dir);
    const free = Number(bavail) * Number(bsize);
    if (free - bytes < this.reserve) {
      throw new ApiError("insufficient_storage", `There is not enough disk space for the archive: ${free} bytes free, ${bytes} needed and ${this.reserve} kept in reserve.`);
    }
  }

  /**
   * Stream an uploaded mbox to disk, parsing it on the way: 400 `invalid_archive` naming the
   * line when it is bad or truncated, 413 past the size limit, 507 when the disk is full.
   * `source` is not destroyed on an error (the caller still answers on its connection).
   */
  async importUpload(accountId: string, source: Readable, opts: { name: string; contentLength?: number }): Promise<Archive> {
    if (opts.contentLength !== undefined && opts.contentLength > this.maxBytes) throw this.tooLarge();
    await mkdir(this.tmpDir, { recursive: true });
    await this.ensureSpace(opts.contentLength ?? 0);
    const id = newId("arc");
    const fileName = `${id}.mbox`;
    const tmp = path.join(this.tmpDir, `${id}.part`);
    const out = this.fs.createWriteStream(tmp, { flags: "wx" });
    let writeError: unknown;
    out.on("error", (err) => (writeError ??= err));
    const parser = new MboxParser({ keepBytes: false });
    let size = 0;
    let nextSpaceCheck = opts.contentLength === undefined ? SPACE_RECHECK_BYTES : Infinity;
    let firstDate: Date | undefined;
    let lastDate: Date | undefined;
    const seen = (messages: { date: Date }[]) => {
      for (const m of messages) {
        if (!firstDate || m.date < firstDate) firstDate = m.date;
        if (!lastDate || m.date > lastDate) lastDate = m.date;
      }
    };
    try {
      for await (const chunk of source.iterator({ destroyOnReturn: false })) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > this.maxBytes) throw this.tooLarge();
        seen(parser.push(buf));
        if (writeError) throw writeError;
        if (!out.write(buf)) await once(out, "drain");
        if (size >= nextSpaceCheck) {
          nextSpaceCheck = size + SPACE_RECHECK_BYTES;
          await this.ensureSpace(0);
        }
      }
      seen(parser.end());
      if (parser.count === 0) throw new MboxFormatError(1, "malformed", "the archive holds no message");
      out.end();
      await once(out, "finish");
      if (writeError) throw writeError;
      await rename(tmp, path.join(this.dir, fileName));
    } catch (err) {
      await this.discard(out, tmp);
      throw this.mapError(err);
    }
    try {
      const [row] = await this.db.query<ArchiveRow>(
        `INSERT INTO archives (id, account_id, name, origin, file_name, size_bytes, message_count, first_date, last_date)
         VALUES ($1, $2, $3, 'upload', $4, $5, $6, $7, $8) RETURNING *`,
        [id, accountId, opts.name, fileName, size, parser.count, firstDate ?? null, lastDate ?? null],
      );
      return toArchive(row!);
    } catch (err) {
      await unlink(path.join(this.dir, fileName)).catch(() => {});
      throw err;
    }
  }

  /**
   * The archive a run writes (flow destination): its row (status `writing`) is created on the
   * first call; a later call for the same run (a run taken over after a crash) truncates the
   * file to `resumeAtByte`, the size checkpointed with the run's last page (`writer.bytesWritten`
   * after `await writer.flush()`), and appends from there.
   */
  async openRunArchive(accountId: string, runId: string, opts: { name: string; resumeAtByte?: number }): Promise<{ archive: Archive; writer: MboxWriter; path: string }> {
    await this.ensureSpace(0);
    const id = newId("arc");
    await this.db.query(
      `INSERT INTO archives (id, account_id, name, origin, run_id, status, file_name) VALUES ($1, $2, $3, 'run', $4, 'writing', $5)
       ON CONFLICT (run_id) WHERE run_id IS NOT NULL DO NOTHING`,
      [id, accountId, opts.name, runId, `${id}.mbox`],
    );
    const archive = (await this.forRun(accountId, runId))!;
    const { path: file } = await this.file(accountId, archive.id);
    await writeFile(file, "", { flag: "a" });
    const onDisk = (await stat(file)).size;
    // A checkpoint is taken after MboxWriter.flush(): a shorter file means it was not, and
    // truncate() would pad it with zeros.
    if (onDisk < (opts.resumeAtByte ?? 0)) throw new Error(`The archive file of run ${runId} holds ${onDisk} bytes, fewer than its checkpoint (${opts.resumeAtByte}).`);
    await truncate(file, opts.resumeAtByte ?? 0);
    const out = this.fs.createWriteStream(file, { flags: "a" });
    // A write error reaches the writer's callbacks (write, flush, end); unheard as an event it would crash the process.
    out.on("error", () => {});
    const writer = new MboxWriter(out);
    writer.bytesWritten = opts.resumeAtByte ?? 0;
    return { archive, writer, path: file };
  }

  /** Record how a run's archive ended: `complete` with its figures, or `failed`. */
  async finishRunArchive(
    accountId: string,
    id: string,
    result: { status: "complete" | "failed"; sizeBytes: number; messageCount: number; firstDate?: Date; lastDate?: Date },
  ): Promise<Archive> {
    const [row] = await this.db.query<ArchiveRow>(
      `UPDATE archives SET status = $3, size_bytes = $4, message_count = $5, first_date = $6, last_date = $7, updated_at = date_trunc('milliseconds', now())
       WHERE account_id = $1 AND id = $2 RETURNING *`,
      [accountId, id, result.status, result.sizeBytes, result.messageCount, result.firstDate ?? null, result.lastDate ?? null],
    );
    if (!row) throw notFound("Archive");
    return toArchive(row);
  }

  private async row(accountId: string, id: string): Promise<ArchiveRow> {
    const [row] = await this.db.query<ArchiveRow>("SELECT * FROM archives WHERE account_id = $1 AND id = $2", [accountId, id]);
    if (!row) throw notFound("Archive");
    return row;
  }

  private tooLarge(): ApiError {
    return new ApiError("payload_too_large", `An archive may be at most ${this.maxBytes} bytes.`);
  }

  /** Close the temporary file (waiting for its descriptor) and remove it. */
  private async discard(out: Writable, tmp: string): Promise<void> {
    if (!out.closed) {
      const closed = once(out, "close").catch(() => {});
      out.destroy();
      await closed;
    }
    await unlink(tmp).catch(() => {});
  }

  private mapError(err: unknown): unknown {
    if (err instanceof MboxFormatError) {
      if (err.problem === "too_large") return new ApiError("payload_too_large", `A message of the archive is too large (${err.message}).`, { line: err.line });
      return new ApiError("invalid_archive", `The archive is not a valid mbox file: ${err.message}.`, { line: err.line, problem: err.problem });
    }
    if (isDiskFull(err)) return new ApiError("insufficient_storage", "The disk is full: the archive was not kept.", undefined, { cause: err });
    return err;
  }
}
