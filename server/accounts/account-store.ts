/**
 * Accounts, API tokens and UI sessions. Tokens and session ids are stored as
 * SHA-256 hashes; the plaintext is shown once, when created.
 */
import type { Db, Queryable } from "../../core/store/db.ts";
import { isUniqueViolation } from "../../core/store/db.ts";
import { hashToken, newId, newToken } from "../../core/secrets.ts";
import { ApiError } from "../../core/errors.ts";
import { ExpiringCache } from "./expiring-cache.ts";
import type { ForgetBus } from "./forget-bus.ts";

export const BOOTSTRAP_ACCOUNT = "default";
/** How long a UI session lasts. */
export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/**
 * How long this process believes a token or session it has resolved without asking the store
 * again. A session deleted here (sign-out) ends at once, and with a {@link ForgetBus} (Redis, in a
 * cluster) on the other processes too; a token or account deleted in the store directly, or a
 * session ended by another process when no bus carried the news, still works here for up to this long.
 */
export const DEFAULT_AUTH_CACHE_TTL_MS = 5_000;
const AUTH_CACHE_MAX_ENTRIES = 10_000;

export interface AccountStoreOptions {
  /** @defaultValue {@link DEFAULT_AUTH_CACHE_TTL_MS}; 0 turns the cache off. */
  authCacheTtlMs?: number;
  /**
   * Opens the cluster's bus that carries forgotten tokens and sessions between processes, given
   * what to do with one heard from another process. @defaultValue none (one process)
   */
  forgetBus?: (forget: (key: string) => void) => ForgetBus;
}

export interface Account {
  id: string;
  name: string;
  isAdmin: boolean;
}

export interface CreatedAccount extends Account {
  token: string;
}

export class AccountStore {
  /** Hash of a token or session id → its account (only found ones: a new token works at once). */
  private readonly resolved: ExpiringCache<Account>;
  private readonly bus?: ForgetBus;

  constructor(
    private readonly db: Db,
    opts: AccountStoreOptions = {},
  ) {
    this.resolved = new ExpiringCache(opts.authCacheTtlMs ?? DEFAULT_AUTH_CACHE_TTL_MS, AUTH_CACHE_MAX_ENTRIES);
    this.bus = opts.forgetBus?.((key) => this.resolved.delete(key));
  }

  /** Start hearing the forget bus, if any (before serving, so no sign-out elsewhere is missed). */
  async start(): Promise<void> {
    await this.bus?.start();
  }

  /** Close the forget bus, if any. */
  async close(): Promise<void> {
    await this.bus?.close();
  }

  async create(name: string, opts: { isAdmin?: boolean; token?: string } = {}): Promise<CreatedAccount> {
    const id = newId("acc");
    const token = opts.token ?? newToken("mb");
    try {
      await this.db.tx(async (q) => {
        await q.query("INSERT INTO accounts (id, name, is_admin) VALUES ($1, $2, $3)", [id, name, opts.isAdmin ?? false]);
        await q.query("INSERT INTO api_tokens (token_hash, account_id) VALUES ($1, $2)", [hashToken(token), id]);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError("name_taken", `An account named "${name}" already exists.`, undefined, { cause: err });
      throw err;
    }
    return { id, name, isAdmin: opts.isAdmin ?? false, token };
  }

  async byToken(token: string): Promise<Account | undefined> {
    const hash = hashToken(token);
    const cached = this.resolved.get(`t:${hash}`);
    if (cached) return cached;
    const rows = await this.db.query(
      `SELECT a.id, a.name, a.is_admin FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1`,
      [hash],
    );
    if (!rows[0]) return undefined;
    const account = toAccount(rows[0]);
    this.resolved.set(`t:${hash}`, account);
    return account;
  }

  async byName(name: string, q: Queryable = this.db): Promise<Account | undefined> {
    const rows = await q.query("SELECT id, name, is_admin FROM accounts WHERE name = $1", [name]);
    return rows[0] ? toAccount(rows[0]) : undefined;
  }

  async createSession(accountId: string, ttlMs = DEFAULT_SESSION_TTL_MS): Promise<{ sessionId: string; expiresAt: Date }> {
    const sessionId = newToken("sess");
    const expiresAt = new Date(Date.now() + ttlMs);
    await this.db.query("INSERT INTO sessions (session_hash, account_id, expires_at) VALUES ($1, $2, $3)", [
      hashToken(sessionId),
      accountId,
      expiresAt,
    ]);
    return { sessionId, expiresAt };
  }

  async bySession(sessionId: string): Promise<Account | undefined> {
    const hash = hashToken(sessionId);
    const cached = this.resolved.get(`s:${hash}`);
    if (cached) return cached;
    const rows = await this.db.query(
      `SELECT a.id, a.name, a.is_admin, s.expires_at FROM sessions s JOIN accounts a ON a.id = s.account_id
        WHERE s.session_hash = $1 AND s.expires_at > now()`,
      [hash],
    );
    if (!rows[0]) return undefined;
    const account = toAccount(rows[0]);
    this.resolved.set(`s:${hash}`, account, new Date(rows[0].expires_at).getTime());
    return account;
  }

  async deleteSession(sessionId: string): Promise<void> {
    const hash = hashToken(sessionId);
    const key = `s:${hash}`;
    this.resolved.delete(key);
    await this.db.query("DELETE FROM sessions WHERE session_hash = $1", [hash]);
    // After the delete: a process that hears it and asks the store again finds nothing.
    await this.bus?.announce(key);
  }

  /**
   * Make sure the bootstrap admin account exists. Returns the token when this
   * call generated one (to print once), undefined otherwise. With a configured
   * token, that token is (re)attached to the account.
   */
  async bootstrap(configuredToken?: string): Promise<{ generatedToken?: string; account: Account }> {
    const existing = await this.byName(BOOTSTRAP_ACCOUNT);
    if (existing) {
      if (configuredToken) {
        await this.db.query(
          "INSERT INTO api_tokens (token_hash, account_id) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING",
          [hashToken(configuredToken), existing.id],
        );
      }
      return { account: existing };
    }
    try {
      const created = await this.create(BOOTSTRAP_ACCOUNT, { isAdmin: true, token: configuredToken });
      const { token, ...account } = created;
      return { account, generatedToken: configuredToken ? undefined : token };
    } catch (err) {
      // Another process bootstrapped at the same moment.
      if (err instanceof ApiError && err.code === "name_taken") return this.bootstrap(configuredToken);
      throw err;
    }
  }
}

function toAccount(row: Record<string, any>): Account {
  // Frozen: one object may answer many requests from the cache.
  return Object.freeze({ id: row.id, name: row.name, isAdmin: row.is_admin });
}
