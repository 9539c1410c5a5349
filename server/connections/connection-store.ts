/**
 * Connections of an account: CRUD with the rules of SPEC §2, and the pool
 * each connection's requests wait in. Every query is scoped by account, so
 * another account's connection answers 404 like a missing one. Writes run in
 * one transaction under a per-account advisory lock, so two concurrent
 * borrowing changes cannot build a cycle between them.
 */
import type { Db, Queryable } from "../../core/store/db.ts";
import { isUniqueViolation } from "../../core/store/db.ts";
import { newId } from "../../core/secrets.ts";
import { ApiError, notFound } from "../../core/errors.ts";
import { missingScopes, sameScopes, withRequiredScopes } from "../../connector/scopes.ts";
import { DEFAULT_CONCURRENCY, toConnection, type Connection, type CreateConnectionInput, type PoolRef, type UpdateConnectionInput } from "./connection.ts";
import { MAX_BORROW_DEPTH, checkBorrowing, resolvePools } from "./borrowing.ts";
import { checkIClient, checkLevelNotWithBorrowing } from "./connection-rules.ts";
import { reauthorizeRequired } from "../../core/offline-reason.ts";
import { RecentReads } from "../../core/recent-reads.ts";
import { MAX_TOKEN_CACHE_MS } from "../oauth/token-store.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../../core/paging.ts";

export interface ConnectionStoreOptions {
  /** The fixed OAuth callback URL shown on every connection. */
  callbackUrl?: string;
  /** A platform iClient is configured, so `iClientId` may be omitted. */
  hasPlatformClient?: boolean;
  /**
   * Remembered reads of `connections`, shared with the other stores that write it (tokens,
   * iClients): a write through any of them is seen at once by {@link ConnectionStore.forCall}.
   */
  recent?: RecentReads;
}

/**
 * The columns `toConnection` reads (add one here when it reads another): never the sealed
 * tokens, which only the OAuth code opens and which would be read and parsed on every list.
 */
const COLUMNS = `id, name, application, scopes, iclient_id, borrow_from, concurrency_level, status, offline_reason, email,
  granted_scopes, missing_scopes, authorized_at, revocation, created_at, updated_at`;

/** First key of the two-key advisory lock that serialises one account's connection writes. */
const ACCOUNT_LOCK_KEY = 7_262_011;

export class ConnectionStore {
  private readonly recent: RecentReads;
  constructor(
    private readonly db: Db,
    private readonly opts: ConnectionStoreOptions = {},
  ) {
    this.recent = opts.recent ?? new RecentReads(MAX_TOKEN_CACHE_MS);
  }

  async list(accountId: string, page: PageRequest = {}): Promise<Page<Connection>> {
    const limit = pageLimit(page);
    const filter = pageFilter(page, 2);
    // The page as one JSON array: parsing one value is several times cheaper than a hundred rows'
    // fields one by one (PGlite decodes those in JavaScript). Timestamps arrive as ISO strings.
    const [result] = await this.db.query<{ page: Record<string, any>[] | null }>(
      `SELECT json_agg(c ORDER BY c.created_at, c.id) AS page FROM (
         SELECT ${COLUMNS} FROM connections WHERE account_id = $1${filter.sql} ORDER BY created_at, id LIMIT ${limit + 1}) c`,
      [accountId, ...filter.params],
    );
    const rows = (result?.page ?? []).map((r) => ({ ...r, created_at: new Date(r.created_at) }));
    const pools = await this.pools(this.db, accountId, rows);
    return toPage(rows as any[], limit, (r) => this.view(r, pools.get(r.id)!));
  }

  /** The connection, or a 404 ApiError when it is missing or another account's. */
  async get(accountId: string, id: string, q: Queryable = this.db): Promise<Connection> {
    const row = await this.row(q, accountId, id);
    return this.view(row, (await this.pools(q, accountId, [row])).get(id)!);
  }

  /** The pool of the connection: the lender at the end of its borrowing chain, and that lender's level. */
  async resolvePool(accountId: string, id: string): Promise<PoolRef> {
    const pool = (await resolvePools(this.db, accountId, [id])).get(id);
    if (!pool) throw notFound("Connection");
    return pool;
  }

  /**
   * The connection and its pool, for a Gmail call: one query for a connection that borrows nothing
   * (`get` then `resolvePool` cost two or three). A 404 ApiError when it is missing or another account's.
   * With `maxAgeMs` (at most {@link MAX_TOKEN_CACHE_MS}) a read this process made that long ago may
   * answer: every Gmail request asks, and a write through this process's stores drops it at once.
   */
  forCall(accountId: string, id: string, opts: { maxAgeMs?: number } = {}): Promise<{ connection: Connection; pool: PoolRef }> {
    return this.recent.read(`call:${accountId}:${id}`, opts.maxAgeMs ?? 0, async () => {
      const row = await this.row(this.db, accountId, id);
      const pool = (await this.pools(this.db, accountId, [row])).get(id)!;
      return { connection: this.view(row, pool), pool };
    });
  }

  async create(accountId: string, input: CreateConnectionInput): Promise<Connection> {
    checkLevelNotWithBorrowing(input.borrowConcurrencyFrom, input.concurrencyLevel);
    const id = newId("con");
    return this.write(accountId, input.name, async (q) => {
      await checkIClient(q, accountId, input.iClientId, !!this.opts.hasPlatformClient);
      if (input.borrowConcurrencyFrom) await checkBorrowing(q, accountId, undefined, input.borrowConcurrencyFrom);
      await q.query(
        `INSERT INTO connections (id, account_id, name, application, scopes, iclient_id, borrow_from, concurrency_level)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)`,
        [
          id,
          accountId,
          input.name,
          input.application,
          JSON.stringify(withRequiredScopes(input.scopes)),
          input.iClientId ?? null,
          input.borrowConcurrencyFrom ?? null,
          input.concurrencyLevel ?? DEFAULT_CONCURRENCY,
        ],
      );
      return this.get(accountId, id, q);
    });
  }

  /**
   * Change a connection. New scopes or a new iClient take an online
   * connection offline (`reauthorize_required`): its tokens no longer match.
   */
  async update(accountId: string, id: string, input: UpdateConnectionInput): Promise<Connection> {
    return this.write(accountId, input.name, async (q) => {
      const row = await this.row(q, accountId, id, true);
      const borrowFrom = input.borrowConcurrencyFrom !== undefined ? input.borrowConcurrencyFrom : row.borrow_from;
      checkLevelNotWithBorrowing(borrowFrom, input.concurrencyLevel);
      if (input.borrowConcurrencyFrom && input.borrowConcurrencyFrom !== row.borrow_from) {
        await checkBorrowing(q, accountId, id, input.borrowConcurrencyFrom);
      }
      const iClientChanged = input.iClientId !== undefined && (input.iClientId ?? null) !== (row.iclient_id ?? null);
      if (iClientChanged) await checkIClient(q, accountId, input.iClientId, !!this.opts.hasPlatformClient);
      const scopes = input.scopes ? withRequiredScopes(input.scopes) : (row.scopes as string[]);
      const scopesChanged = !sameScopes(scopes, row.scopes);

      let status = row.status;
      let offlineReason = row.offline_reason;
      if (row.status === "online" && (scopesChanged || iClientChanged)) {
        status = "offline";
        offlineReason = reauthorizeRequired(
          scopesChanged ? "The connection's scopes changed: authorize it again to grant them." : "The connection's iClient changed: authorize it again.",
        );
      }
      const granted = row.granted_scopes as string[] | null;
      await q.query(
        `UPDATE connections SET name = $3, scopes = $4::jsonb, iclient_id = $5, borrow_from = $6, concurrency_level = $7,
                status = $8, offline_reason = $9::jsonb, missing_scopes = $10::jsonb, updated_at = date_trunc('milliseconds', now())
          WHERE id = $1 AND account_id = $2`,
        [
          id,
          accountId,
          input.name ?? row.name,
          JSON.stringify(scopes),
          input.iClientId !== undefined ? input.iClientId : row.iclient_id,
          borrowFrom ?? null,
          input.concurrencyLevel ?? row.concurrency_level,
          status,
          offlineReason ? JSON.stringify(offlineReason) : null,
          granted ? JSON.stringify(missingScopes(scopes, granted)) : null,
        ],
      );
      return this.get(accountId, id, q);
    });
  }

  /** Delete a connection; refused (409 `in_use`) while others borrow from it or a flow uses it. */
  async delete(accountId: string, id: string): Promise<void> {
    await this.write(accountId, undefined, async (q) => {
      const row = await this.row(q, accountId, id, true);
      const borrowers = await q.query<{ id: string; name: string }>(
        "SELECT id, name FROM connections WHERE borrow_from = $1 ORDER BY created_at, id",
        [id],
      );
      const flows = await q.query<{ id: string; name: string }>(
        `SELECT f.id, f.name FROM flow_connections fc JOIN flows f ON f.id = fc.flow_id
          WHERE fc.connection_id = $1 ORDER BY f.created_at, f.id`,
        [id],
      );
      if (borrowers.length > 0 || flows.length > 0) {
        const parts = [
          ...(borrowers.length ? [`the connections ${borrowers.map((b) => `"${b.name}"`).join(", ")} borrow its concurrency`] : []),
          ...(flows.length ? [`the flows ${flows.map((f) => `"${f.name}"`).join(", ")} use it`] : []),
        ];
        throw new ApiError("in_use", `Connection "${row.name}" cannot be deleted: ${parts.join("; ")}.`, {
          connections: borrowers.map((b) => ({ id: b.id, name: b.name })),
          flows: flows.map((f) => ({ id: f.id, name: f.name })),
        });
      }
      await q.query("DELETE FROM connections WHERE id = $1 AND account_id = $2", [id, accountId]);
    });
  }

  private async row(q: Queryable, accountId: string, id: string, lock = false): Promise<Record<string, any>> {
    const rows = await q.query(`SELECT ${COLUMNS} FROM connections WHERE id = $1 AND account_id = $2${lock ? " FOR UPDATE" : ""}`, [id, accountId]);
    if (!rows[0]) throw notFound("Connection");
    return rows[0];
  }

  private async write<T>(accountId: string, name: string | undefined, fn: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      return await this.recent.writing(() => this.db.tx(async (q) => {
        await q.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [ACCOUNT_LOCK_KEY, accountId]);
        return fn(q);
      }));
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError("name_taken", `A connection named "${name}" already exists.`, undefined, { cause: err });
      // A flow or another request referenced a row this one changed meanwhile.
      if (isForeignKeyViolation(err)) throw new ApiError("conflict", "A related resource changed meanwhile: try again.", undefined, { cause: err });
      throw err;
    }
  }

  /**
   * The pool of each row: a connection that lends nothing is its own pool, and a chain that
   * ends among `rows` is walked here; only chains leaving them cost a query (the recursive one).
   */
  private async pools(q: Queryable, accountId: string, rows: Record<string, any>[]): Promise<Map<string, PoolRef>> {
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    const pools = new Map<string, PoolRef>();
    const unresolved: string[] = [];
    for (const row of rows) {
      let at: Record<string, any> | undefined = row;
      for (let depth = 0; at?.borrow_from && depth < MAX_BORROW_DEPTH; depth++) at = byId.get(at.borrow_from);
      if (at && !at.borrow_from) pools.set(row.id, { poolId: at.id, limit: at.concurrency_level });
      else unresolved.push(row.id);
    }
    if (unresolved.length > 0) for (const [id, pool] of await resolvePools(q, accountId, unresolved)) pools.set(id, pool);
    return pools;
  }

  private view(row: Record<string, any>, pool: PoolRef): Connection {
    return toConnection(row, pool, this.opts.callbackUrl ?? "");
  }
}

function isForeignKeyViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "23503";
}
