/**
 * Quota units of every Gmail method Mailbridge calls (GOOGLE.md "Quota"): what each call costs
 * against the per-user and per-project limits. The emulator keeps its own table, as Google would.
 */
import type { GmailMethod } from "./gmail-methods.ts";

export const QUOTA_UNITS = {
  getProfile: 1,
  "labels.list": 1,
  "history.list": 2,
  "messages.list": 5,
  "messages.get": 5,
  "attachments.get": 5,
  "messages.modify": 5,
  "messages.trash": 5,
  "messages.untrash": 5,
  "labels.create": 5,
  "drafts.create": 10,
  "messages.delete": 10,
  "messages.insert": 25,
  "messages.import": 25,
  "messages.batchModify": 50,
  "users.stop": 50,
  "users.watch": 100,
  "messages.send": 100,
  "drafts.send": 100,
} as const satisfies Record<GmailMethod, number>;

/** The dearest single call: a budget must leave room for one of these on top of its pace. */
export const MAX_UNITS_PER_CALL = Math.max(...Object.values(QUOTA_UNITS));

/** Units `method` costs per call. */
export function quotaUnits(method: GmailMethod): number {
  return QUOTA_UNITS[method];
}

/**
 * Methods whose effect a retry could double (a second message, draft or label): never retried
 * blindly on a 5xx or a dropped connection, since the first attempt may have gone through.
 * Reads and the label/trash writes are idempotent and retried.
 */
export const NON_IDEMPOTENT: ReadonlySet<GmailMethod> = new Set<GmailMethod>([
  "messages.send",
  "drafts.send",
  "drafts.create",
  "messages.insert",
  "messages.import",
  "labels.create",
]);
