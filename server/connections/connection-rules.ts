/**
 * The rules of SPEC §2 that JSON Schema cannot express: which iClient a
 * connection uses, and the borrowing/level exclusivity.
 */
import { ApiError, notFound } from "../../core/errors.ts";
import type { Queryable } from "../../core/store/db.ts";

/** A connection that borrows may not also set its own level. */
export function checkLevelNotWithBorrowing(borrowFrom: string | null | undefined, level: number | undefined): void {
  if (borrowFrom && level !== undefined) {
    throw new ApiError(
      "invalid_borrowing",
      "A connection that borrows concurrency may not set its own concurrencyLevel: remove one of concurrencyLevel and borrowConcurrencyFrom.",
      [{ field: "body.concurrencyLevel", message: "cannot be set together with borrowConcurrencyFrom" }],
    );
  }
}

/**
 * `iClientId` names an iClient of the account (404 otherwise, also for another
 * account's); without one, the platform iClient must be configured (400).
 */
export async function checkIClient(q: Queryable, accountId: string, iClientId: string | null | undefined, hasPlatformClient: boolean): Promise<void> {
  if (iClientId === null || iClientId === undefined) {
    if (!hasPlatformClient) {
      throw new ApiError("iclient_required", undefined, [{ field: "body.iClientId", message: "is required" }]);
    }
    return;
  }
  const rows = await q.query("SELECT 1 FROM iclients WHERE id = $1 AND account_id = $2", [iClientId, accountId]);
  if (rows.length === 0) throw notFound("iClient");
}
