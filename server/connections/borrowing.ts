/**
 * Concurrency borrowing: a connection may borrow the pool of another
 * connection of the same account, which may itself borrow; the chain is
 * resolved to the lender at its end. Cycles are refused when written, and
 * the walk is bounded so a corrupted chain can never loop forever.
 */
import type { Queryable } from "../../core/store/db.ts";
import { ApiError, notFound } from "../../core/errors.ts";
import type { PoolRef } from "./connection.ts";

/** Longer chains than this are refused as if they were cycles. */
export const MAX_BORROW_DEPTH = 100;

const CHAIN = `WITH RECURSIVE chain(root, id, borrow_from, level, depth) AS (
    SELECT id, id, borrow_from, concurrency_level, 0 FROM connections WHERE account_id = $1 AND id = ANY($2::text[])
  UNION ALL
    SELECT chain.root, c.id, c.borrow_from, c.concurrency_level, chain.depth + 1
      FROM chain JOIN connections c ON c.id = chain.borrow_from AND c.account_id = $1
     WHERE chain.depth < ${MAX_BORROW_DEPTH})`;

/** The pool of each connection in `ids` (missing ids are absent from the map). */
export async function resolvePools(q: Queryable, accountId: string, ids: string[]): Promise<Map<string, PoolRef>> {
  if (ids.length === 0) return new Map();
  const rows = await q.query<{ root: string; id: string; level: number }>(
    `${CHAIN} SELECT DISTINCT ON (root) root, id, level FROM chain ORDER BY root, depth DESC`,
    [accountId, ids],
  );
  return new Map(rows.map((r) => [r.root, { poolId: r.id, limit: r.level }]));
}

/**
 * Check that `connectionId` (undefined for a new connection) may borrow from
 * `lenderId`: the lender exists in the account (else 404, as for another
 * account's id) and its chain does not lead back to the borrower (else 400).
 */
export async function checkBorrowing(q: Queryable, accountId: string, connectionId: string | undefined, lenderId: string): Promise<void> {
  const chain = await q.query<{ id: string; depth: number }>(`${CHAIN} SELECT id, depth FROM chain ORDER BY depth`, [accountId, [lenderId]]);
  if (chain.length === 0) throw notFound("Connection to borrow concurrency from");
  const cycle = connectionId !== undefined && chain.some((c) => c.id === connectionId);
  const tooLong = chain.length >= MAX_BORROW_DEPTH;
  if (cycle || tooLong) {
    throw new ApiError(
      "invalid_borrowing",
      cycle ? "That borrowing would form a cycle: the lender's chain leads back to this connection." : "That borrowing chain is too long.",
      { borrowConcurrencyFrom: lenderId, chain: chain.map((c) => c.id) },
    );
  }
}
