/**
 * The archive destination of one run (SPEC §2 "Archives"): every exported message appended to
 * the run's mboxrd file with its Takeout label names and internal date. The file's size and
 * message count go into the run's position after each page, so a run taken over after a crash
 * truncates the file back to its last page and appends from there.
 */
import type { ExportRecord } from "../../connector/gmail-export.ts";
import { takeoutLabelNames, type MboxWriter } from "../../connector/mbox.ts";
import type { ArchiveStore } from "../archives/archive-store.ts";
import type { Archive } from "../archives/archive.ts";
import type { RunPosition } from "./run-store.ts";
import { ApiError } from "../../core/errors.ts";

const DISK_FULL = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);

/** A full disk as the API reports it (507, retried: space may be freed); other errors as they are. */
function storageError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && DISK_FULL.has(code)) {
    return new ApiError("insufficient_storage", "The disk is full: the run's archive could not be written. Free some space; the run goes on from its last page.", undefined, { cause: err });
  }
  return err;
}

type SinkPosition = Pick<RunPosition, "archiveBytes" | "archiveMessages" | "firstDate" | "lastDate">;

export class ArchiveSink {
  private firstDate: number | undefined;
  private lastDate: number | undefined;
  /** A write failed: the file is unusable past the run's last checkpoint. */
  private broken = false;

  private constructor(
    private readonly archives: ArchiveStore,
    private readonly accountId: string,
    readonly archive: Archive,
    private readonly writer: MboxWriter,
    /** The source mailbox's user label ids → names. */
    private readonly userLabels: ReadonlyMap<string, string>,
    at: SinkPosition,
  ) {
    this.writer.messages = at.archiveMessages ?? 0;
    this.firstDate = at.firstDate;
    this.lastDate = at.lastDate;
  }

  /** Open the run's archive, truncated to the position's size (empty without one). */
  static async open(archives: ArchiveStore, accountId: string, runId: string, name: string, userLabels: ReadonlyMap<string, string>, at: SinkPosition = {}): Promise<ArchiveSink> {
    const { archive, writer } = await archives.openRunArchive(accountId, runId, { name, resumeAtByte: at.archiveBytes ?? 0 });
    return new ArchiveSink(archives, accountId, archive, writer, userLabels, at);
  }

  async write(record: ExportRecord, raw: Buffer): Promise<void> {
    const date = Number(record.internalDate ?? Date.parse(record.date)) || 0;
    if (this.firstDate === undefined || date < this.firstDate) this.firstDate = date;
    if (this.lastDate === undefined || date > this.lastDate) this.lastDate = date;
    if (this.broken) throw new ApiError("insufficient_storage", "The run's archive could not be written: the run goes on from its last page.");
    await this.writer.write({ raw, labels: takeoutLabelNames(record.labelIds, this.userLabels), internalDate: date, id: record.threadId || undefined }).catch((err) => this.fail(err));
  }

  /** Everything written so far is on disk: the figures to save in the run's position. */
  async checkpoint(): Promise<SinkPosition> {
    await this.writer.flush().catch((err) => this.fail(err));
    return { archiveBytes: this.writer.bytesWritten, archiveMessages: this.writer.messages, firstDate: this.firstDate, lastDate: this.lastDate };
  }

  /** Close the file and record the archive complete (or failed). */
  async finish(status: "complete" | "failed"): Promise<Archive> {
    if (this.broken) {
      if (status === "complete") throw new Error("The run's archive cannot be completed after a failed write.");
    } else {
      await this.writer.end().catch((err) => {
        this.broken = true;
        if (status === "complete") throw storageError(err);
      });
    }
    return this.archives.finishRunArchive(this.accountId, this.archive.id, {
      status,
      sizeBytes: this.writer.bytesWritten,
      messageCount: this.writer.messages,
      firstDate: this.firstDate === undefined ? undefined : new Date(this.firstDate),
      lastDate: this.lastDate === undefined ? undefined : new Date(this.lastDate),
    });
  }

  /** Close the file and leave the archive `writing` (the run will be retried). */
  async close(): Promise<void> {
    if (!this.broken) await this.writer.end().catch(() => {});
  }

  private fail(err: unknown): never {
    this.broken = true;
    throw storageError(err);
  }
}
