/**
 * Keyset paging over (created_at, id), shared by the iClient and connection
 * lists. The cursor is opaque to callers: base64url of `[createdAtMs, id]`.
 * `created_at` is stored at millisecond precision (migration 002), so the
 * JavaScript Date of the last row round-trips exactly.
 */
import { ApiError } from "./errors.ts";

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 200;
/** 9999-12-31T23:59:59.999Z: keeps a forged cursor inside PostgreSQL's timestamp range. */
const MAX_CURSOR_MS = 253_402_300_799_999;

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

interface Keyed {
  created_at: Date;
  id: string;
}

export function encodeCursor(row: Keyed): string {
  return Buffer.from(JSON.stringify([row.created_at.getTime(), row.id])).toString("base64url");
}

export function decodeCursor(cursor: string): { ms: number; id: string } {
  const invalid = () => new ApiError("validation_failed", "querystring.cursor is not a cursor this list returned.", [{ field: "querystring.cursor", message: "is not valid" }]);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(value) || value.length !== 2) throw invalid();
  const [ms, id] = value;
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_CURSOR_MS || typeof id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw invalid();
  return { ms, id };
}

/**
 * The WHERE fragment and parameters of one page, its parameters numbered from
 * `firstParam`; `alias` is the table's alias with its dot. The caller appends `ORDER BY created_at, id LIMIT <limit + 1>`.
 */
export function pageFilter(page: PageRequest, firstParam: number, alias = ""): { sql: string; params: unknown[] } {
  if (!page.cursor) return { sql: "", params: [] };
  const { ms, id } = decodeCursor(page.cursor);
  const a = firstParam;
  return {
    sql: ` AND (${alias}created_at, ${alias}id) > (timestamptz 'epoch' + $${a}::bigint * interval '1 millisecond', $${a + 1}::text)`,
    params: [ms, id],
  };
}

/** Cut the `limit + 1` rows fetched into a page and its next cursor. */
export function toPage<R extends Keyed, T>(rows: R[], limit: number, map: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(map), nextCursor: more ? encodeCursor(kept[kept.length - 1]!) : null };
}

export function pageLimit(page: PageRequest): number {
  return Math.min(Math.max(page.limit ?? DEFAULT_PAGE_LIMIT, 1), MAX_PAGE_LIMIT);
}
