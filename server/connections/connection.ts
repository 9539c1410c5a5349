/** The connection model as the API shows it, and the mapping from its row. */
import type { OfflineReason } from "../../core/offline-reason.ts";
import type { Revocation } from "./revocation.ts";

export type ConnectionStatus = "unauthorized" | "online" | "offline";

/** The minimum and maximum concurrency level of a pool, and the default. */
export const MIN_CONCURRENCY = 1;
export const MAX_CONCURRENCY = 25;
export const DEFAULT_CONCURRENCY = 5;

export interface Connection {
  id: string;
  name: string;
  application: string;
  /** The scopes requested at authorization (always with `userinfo.email`). */
  scopes: string[];
  /** null: the platform iClient. */
  iClientId: string | null;
  /** The fixed OAuth redirect URI, read-only. */
  callbackUrl: string;
  /** The connection this one borrows from, as set (the chain is resolved for `effectiveConcurrency`). */
  borrowConcurrencyFrom: string | null;
  /** The connection's own level; null while it borrows. */
  concurrencyLevel: number | null;
  /** The limit that applies: the level of the lender at the end of the borrowing chain. */
  effectiveConcurrency: number;
  status: ConnectionStatus;
  offlineReason: OfflineReason | null;
  email: string | null;
  grantedScopes: string[] | null;
  missingScopes: string[] | null;
  authorizedAt: string | null;
  /** A deauthorization Google did not confirm: the grant may still be alive; null when none is pending. */
  revocation: Revocation | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreateConnectionInput {
  name: string;
  application: string;
  scopes: string[];
  iClientId?: string | null;
  borrowConcurrencyFrom?: string | null;
  concurrencyLevel?: number;
}

export type UpdateConnectionInput = Partial<CreateConnectionInput>;

/** The pool a connection's requests wait in: the resolved lender's id and level. */
export interface PoolRef {
  poolId: string;
  limit: number;
}

export function toConnection(r: Record<string, any>, pool: PoolRef, callbackUrl: string): Connection {
  return {
    id: r.id,
    name: r.name,
    application: r.application,
    scopes: r.scopes,
    iClientId: r.iclient_id ?? null,
    callbackUrl,
    borrowConcurrencyFrom: r.borrow_from ?? null,
    concurrencyLevel: r.borrow_from ? null : r.concurrency_level,
    effectiveConcurrency: pool.limit,
    status: r.status,
    offlineReason: r.offline_reason ?? null,
    email: r.email ?? null,
    grantedScopes: r.granted_scopes ?? null,
    missingScopes: r.missing_scopes ?? null,
    authorizedAt: r.authorized_at ? new Date(r.authorized_at).toISOString() : null,
    revocation: r.revocation ?? null,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}
