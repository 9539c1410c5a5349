/**
 * Page tokens and `maxResults` handling shared by the list methods.
 */
import { badRequest } from "./errors.ts";
import { first, type FormValues } from "./form.ts";

export function maxResults(query: FormValues, fallback = 100, max = 500): number {
  const value = first(query.maxResults);
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`Invalid value at 'max_results' (TYPE_UINT32), "${value}"`);
  return n === 0 ? fallback : Math.min(n, max);
}

export function pageOffset(query: FormValues): number {
  const token = first(query.pageToken);
  if (!token) return 0;
  const n = Number(Buffer.from(token, "base64url").toString("utf8"));
  if (!Number.isInteger(n) || n < 0) throw badRequest("Invalid pageToken");
  return n;
}

export function nextPageToken(offset: number, size: number, total: number): string | undefined {
  const next = offset + size;
  return next < total ? Buffer.from(String(next)).toString("base64url") : undefined;
}

/** Slices one page and the fields Gmail returns with it. */
export function page<T>(items: T[], query: FormValues, fallback = 100): { items: T[]; nextPageToken?: string } {
  const offset = pageOffset(query);
  const size = maxResults(query, fallback);
  const slice = items.slice(offset, offset + size);
  const token = nextPageToken(offset, slice.length, items.length);
  return token ? { items: slice, nextPageToken: token } : { items: slice };
}
