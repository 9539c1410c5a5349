/**
 * iClients of an account: CRUD, usage, and the decrypted credentials the
 * OAuth code needs. Every query is scoped by account: another account's
 * iClient answers 404 exactly like a missing one.
 */
import type { Db, Queryable } from "../core/store/db.ts";
import { isUniqueViolation } from "../core/store/db.ts";
import type { SecretBox } from "../core/secrets.ts";
import { newId } from "../core/secrets.ts";
import { ApiError, notFound } from "../core/errors.ts";
import { pageFilter, pageLimit, toPage, type Page, type PageRequest } from "../core/paging.ts";
import { reauthorizeRequired, takeOfflineSql } from "../core/offline-reason.ts";
import { callbackRegistered, secretHint, type CreateIClientInput, type IClient, type UpdateIClientInput } from "./iclient.ts";
import { credentialChange } from "./iclient-input.ts";
import type { RecentReads } from "../core/recent-reads.ts";

export interface IClientStoreOptions {
  /** The service's fixed callback URL, to compute `callbackUrlRegistered`. */
  callbackUrl?: string;
  /** Remembered reads of `connections` (app.ts): a client id change takes connections offline, which they must see at once. */
  recent?: RecentReads;
}

const SELECT = `SELECT i.*, COALESCE((SELECT json_agg(json_build_object('id', c.id, 'name', c.name) ORDER BY c.created_at, c.id)
                   FROM connections c WHERE c.iclient_id = i.id), '[]'::json) AS used_by
                FROM iclients i`;

export class IClientStore {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly opts: IClientStoreOptions = {},
  ) {}

  async list(accountId: string, page: PageRequest = {}): Promise<Page<IClient>> {
    const limit = pageLimit(page);
    const filter = pageFilter(page, 2, "i.");
    const rows = await this.db.query(
      `${SELECT} WHERE i.account_id = $1${filter.sql} ORDER BY i.created_at, i.id LIMIT ${limit + 1}`,
      [accountId, ...filter.params],
    );
    return toPage(rows as any[], limit, (r) => this.toView(r));
  }

  async get(accountId: string, id: string, q: Queryable = this.db): Promise<IClient> {
    return this.toView(await this.row(q, accountId, id));
  }

  async create(accountId: string, input: CreateIClientInput): Promise<IClient> {
    const cred = credentialChange(input, "create");
    const id = newId("icl");
    return this.write(input.name, async (q) => {
      await q.query(
        `INSERT INTO iclients (id, account_id, name, application, client_id, client_secret_sealed, redirect_uris, allow_billed_usage)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
        [id, accountId, input.name, input.application, cred.clientId, this.secrets.seal(cred.clientSecret!), json(cred.redirectUris ?? null), input.allowBilledUsage ?? false],
      );
      return this.get(accountId, id, q);
    });
  }

  /**
   * Rename, rotate the secret or change the client id. A new client id takes
   * the online connections using this iClient offline (`reauthorize_required`):
   * their tokens were issued to the old client. A new secret alone does not.
   */
  async update(accountId: string, id: string, input: UpdateIClientInput): Promise<IClient> {
    const cred = credentialChange(input, "update");
    return this.write(input.name, async (q) => {
      const current = await this.row(q, accountId, id, true);
      const sets: string[] = [];
      const params: unknown[] = [id, accountId];
      const set = (column: string, value: unknown, cast = "") => {
        params.push(value);
        sets.push(`${column} = $${params.length}${cast}`);
      };
      if (input.name !== undefined && input.name !== current.name) set("name", input.name);
      if (input.allowBilledUsage !== undefined && input.allowBilledUsage !== current.allow_billed_usage) set("allow_billed_usage", input.allowBilledUsage);
      if (cred.clientSecret !== undefined) set("client_secret_sealed", this.secrets.seal(cred.clientSecret));
      if (cred.redirectUris !== undefined) set("redirect_uris", json(cred.redirectUris), "::jsonb");
      const newClientId = cred.clientId !== undefined && cred.clientId !== current.client_id;
      if (newClientId) set("client_id", cred.clientId);
      if (sets.length === 0) return this.get(accountId, id, q);
      await q.query(
        `UPDATE iclients SET ${sets.join(", ")}, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 AND account_id = $2`,
        params,
      );
      if (newClientId) {
        const reason = reauthorizeRequired(`The client id of iClient "${input.name ?? current.name}" changed: authorize the connection again.`);
        await q.query(takeOfflineSql("iclient_id = $2"), [JSON.stringify(reason), id]);
      }
      return this.get(accountId, id, q);
    });
  }

  /** Delete an iClient; refused (409 `in_use`) while connections use it. */
  async delete(accountId: string, id: string): Promise<void> {
    await this.db.tx(async (q) => {
      const current = await this.row(q, accountId, id, true);
      const users = current.used_by as { id: string; name: string }[];
      if (users.length > 0) {
        const names = users.map((u) => `"${u.name}"`).join(", ");
        throw new ApiError("in_use", `iClient "${current.name}" is used by the connections ${names}.`, { connections: users });
      }
      await q.query("DELETE FROM iclients WHERE id = $1 AND account_id = $2", [id, accountId]);
    });
  }

  /** The decrypted id and secret, for the OAuth code only. Never return these from the API. */
  async credentials(accountId: string, iClientId: string): Promise<{ clientId: string; clientSecret: string }> {
    const rows = await this.db.query("SELECT client_id, client_secret_sealed FROM iclients WHERE id = $1 AND account_id = $2", [iClientId, accountId]);
    if (!rows[0]) throw notFound("iClient");
    return { clientId: rows[0].client_id, clientSecret: this.secrets.open(rows[0].client_secret_sealed) };
  }

  /**
   * Whether the iClient allows Gmail usage past the daily billing threshold (any account: the
   * Gmail choke point knows the iClient by id only). False for an unknown iClient.
   */
  async allowsBilledUsage(iClientId: string): Promise<boolean> {
    const rows = await this.db.query("SELECT allow_billed_usage FROM iclients WHERE id = $1", [iClientId]);
    return rows[0]?.allow_billed_usage === true;
  }

  /** True when the iClient exists in this account (used when a connection names one). */
  async exists(accountId: string, id: string, q: Queryable = this.db): Promise<boolean> {
    return (await q.query("SELECT 1 FROM iclients WHERE id = $1 AND account_id = $2", [id, accountId])).length > 0;
  }

  private async row(q: Queryable, accountId: string, id: string, lock = false): Promise<Record<string, any>> {
    if (lock) await q.query("SELECT 1 FROM iclients WHERE id = $1 AND account_id = $2 FOR UPDATE", [id, accountId]);
    const rows = await q.query(`${SELECT} WHERE i.id = $1 AND i.account_id = $2`, [id, accountId]);
    if (!rows[0]) throw notFound("iClient");
    return rows[0];
  }

  private async write<T>(name: string | undefined, fn: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      return this.opts.recent ? await this.opts.recent.writing(() => this.db.tx(fn)) : await this.db.tx(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError("name_taken", `An iClient named "${name}" already exists.`, undefined, { cause: err });
      throw err;
    }
  }

  private toView(r: Record<string, any>): IClient {
    return {
      id: r.id,
      name: r.name,
      application: r.application,
      clientId: r.client_id,
      clientSecretHint: secretHint(this.secrets.open(r.client_secret_sealed)),
      callbackUrlRegistered: callbackRegistered(r.redirect_uris, this.opts.callbackUrl),
      usedBy: r.used_by,
      allowBilledUsage: r.allow_billed_usage === true,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    };
  }
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
