/**
 * An archive as a flow source (SPEC §2 "Archives"): the messages of a complete archive, read
 * from disk a page at a time (bounded memory) from a byte offset, so a restore taken over after
 * a crash goes on from its last page. A record's id is `<archiveId>:<offset>`, the key of its
 * deliveries: each message is imported once even across a retry.
 */
import { createReadStream } from "node:fs";
import { MboxFormatError, readMbox, type MboxMessage } from "../../connector/mbox.ts";
import type { ArchiveStore } from "../archives/archive-store.ts";
import { ApiError } from "../../core/errors.ts";
import type { RunPosition } from "./run-store.ts";

/** Messages per page (a position is saved after each). */
const PAGE_MESSAGES = 100;
/** A page ends early past this many bytes, so memory stays bounded with large messages. */
const PAGE_BYTES = 32 * 1024 * 1024;

export interface ArchivePage {
  messages: Array<{ id: string; message: MboxMessage }>;
  /** Where the next page starts. */
  position: Pick<RunPosition, "offset" | "line" | "sourceDone">;
}

/** The archive's file, or a permanent error: missing (404) or not complete (409). */
export async function openArchiveSource(archives: ArchiveStore, accountId: string, archiveId: string): Promise<string> {
  const { archive, path } = await archives.file(accountId, archiveId);
  if (archive.status !== "complete") throw new ApiError("conflict", `Archive ${archiveId} is not complete (${archive.status}): it cannot be restored.`);
  return path;
}

export async function* archivePages(file: string, archiveId: string, from: Pick<RunPosition, "offset" | "line" | "sourceDone"> = {}): AsyncGenerator<ArchivePage> {
  if (from.sourceDone) return;
  const start = from.offset ?? 0;
  let page: ArchivePage["messages"] = [];
  let bytes = 0;
  let next = { offset: start, line: from.line ?? 1 };
  try {
    for await (const message of readMbox(createReadStream(file, { start }), { firstLine: next.line, firstOffset: start })) {
      page.push({ id: `${archiveId}:${message.offset}`, message });
      bytes += message.raw.length;
      next = { offset: message.endOffset, line: message.endLine };
      if (page.length >= PAGE_MESSAGES || bytes >= PAGE_BYTES) {
        yield { messages: page, position: { ...next } };
        page = [];
        bytes = 0;
      }
    }
  } catch (err) {
    if (err instanceof MboxFormatError) throw new ApiError("invalid_archive", `The archive is not a valid mbox file: ${err.message}.`, { line: err.line, problem: err.problem }, { cause: err });
    throw err;
  }
  yield { messages: page, position: { ...next, sourceDone: true } };
}
