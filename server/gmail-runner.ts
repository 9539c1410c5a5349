/**
 * The one choke point of every Gmail API request made for a connection:
 * status and scope checks first (no call to Google when they fail), then the
 * call's quota units from the budgets of its Gmail user and its iClient (waited
 * for holding nothing), a slot of the connection's pool, a valid access token,
 * the call, and Google's answers mapped: 401 → one refresh and retry; rate
 * limit → pool pause, budget shrunk, retry; 5xx or a dropped connection →
 * backoff and retry, except for a call a retry could double (a send);
 * `invalid_grant` → offline.
 */
import type { gmail_v1 } from "@googleapis/gmail";
import type { FastifyBaseLogger } from "fastify";
import { gmailCallOptions, gmailClient, type GmailCallOptions } from "../connector/gmail-client.ts";
import { assertScopeFor, type GmailMethod } from "../connector/gmail-methods.ts";
import { GoogleApiError, RateLimitedError, toConnectorError } from "../connector/errors.ts";
import type { GoogleEndpoints } from "../connector/endpoints.ts";
import { NON_IDEMPOTENT, quotaUnits } from "../connector/quota-costs.ts";
import { backoffMs, type PoolGate } from "./pools/index.ts";
import { DEFAULT_MAX_ATTEMPTS } from "./pools/run-in-pool.ts";
import {
  DAILY_WARNING_SHARE,
  DailyQuotaReachedError,
  nextUtcDay,
  systemClock,
  transientCause,
  utcDay,
  type BucketRef,
  type QuotaBudget,
  type QuotaClock,
} from "./quota/index.ts";
import { retryAfterMs } from "./quota/retry-after.ts";
import { rateLimitScope } from "./quota/rate-limit-scope.ts";
import type { QuotaMetrics } from "./quota/metrics.ts";
import type { ConnectionStore } from "./connections/connection-store.ts";
import type { TokenManager } from "./oauth/token-manager.ts";
import { MAX_TOKEN_CACHE_MS } from "./oauth/token-store.ts";
import { ConnectionUnavailableError } from "./oauth/connection-errors.ts";

export interface GmailRunnerDeps {
  connections: ConnectionStore;
  tokens: TokenManager;
  gate: PoolGate;
  /** Quota budgets, shared by every process of the cluster in queue mode. */
  budget: QuotaBudget;
  /** Budget sizes (config `gmailQuota`). */
  quota: { userUnitsPerMinute: number; projectUnitsPerMinute: number; projectDailyUnits: number };
  endpoints: GoogleEndpoints;
  log?: FastifyBaseLogger;
  /** Backoff when Google gives no Retry-After, and before retrying a transient error. @defaultValue 1 s doubling to 64 s, jittered */
  backoff?: { baseMs?: number; maxMs?: number };
  /** The clock backoffs sleep on (tests scale it). @defaultValue real time */
  clock?: QuotaClock;
  /** Attempts per call, the first included. @defaultValue 8 */
  maxAttempts?: number;
  /** Counters on `/metrics` (server/quota/metrics.ts). */
  metrics?: QuotaMetrics;
  /** Whether an iClient lets calls go on past its daily units (billed usage). @defaultValue never */
  allowsBilledUsage?: (iClientId: string) => Promise<boolean>;
}

/** How long an iClient's allowBilledUsage is believed once read (read only past the daily units). */
const BILLED_USAGE_TTL_MS = 10_000;

export class GmailRunner {
  readonly #billed = new Map<string, { allowed: boolean; at: number }>();
  constructor(private readonly deps: GmailRunnerDeps) {}

  /** The clock quota waits and the daily units go by (a paused run resumes on it too). */
  get clock(): QuotaClock {
    return this.deps.clock ?? systemClock;
  }

  /**
   * Run `call` for the connection, holding a slot of its pool. `call` must pass `options` to every Gmail call.
   * `signal` stops waiting (for quota, a slot or a backoff) with its reason; a call in flight is not interrupted.
   */
  async run<T>(
    accountId: string,
    connectionId: string,
    method: GmailMethod,
    call: (gmail: gmail_v1.Gmail, options: GmailCallOptions) => Promise<T>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const { signal } = opts;
    const { connections, gate, budget, quota, log, metrics } = this.deps;
    const clock = this.deps.clock ?? systemClock;
    const maxAttempts = this.deps.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    // The connection and its pool in one query, remembered up to 2 s (every request asks): a change
    // through this process is seen at once, another process's within that time; a remembered
    // connection that is not online is read again before the call is refused.
    let known = await connections.forCall(accountId, connectionId, { maxAgeMs: MAX_TOKEN_CACHE_MS });
    if (known.connection.status !== "online") known = await connections.forCall(accountId, connectionId);
    const connection = known.connection;
    if (connection.status !== "online") {
      throw new ConnectionUnavailableError(connection.status, connection.offlineReason);
    }
    assertScopeFor(method, connection.grantedScopes ?? []);
    let pool = known.pool;
    // Google counts per user per project: the Gmail address under the iClient's project.
    const scope = connection.iClientId ?? "platform";
    const user: BucketRef = { key: `user:${(connection.email ?? connectionId).toLowerCase()}`, unitsPerMinute: quota.userUnitsPerMinute };
    const project: BucketRef = { key: "project", unitsPerMinute: quota.projectUnitsPerMinute };
    const buckets = [user, project];
    const units = quotaUnits(method);
    for (let attempt = 1; ; attempt++) {
      await this.#countDay(scope, units, clock.now());
      // Waited for before the pool slot, so a call short of quota holds no slot.
      metrics?.waiting.inc({ iclient: scope });
      let waited: number;
      try {
        waited = await budget.take(scope, buckets, units, { signal });
      } finally {
        metrics?.waiting.dec({ iclient: scope });
      }
      metrics?.units.inc({ iclient: scope }, units);
      if (waited > 0) {
        metrics?.waitSeconds.inc({ iclient: scope }, waited / 1000);
        log?.debug({ connectionId, method, waitedMs: Math.round(waited) }, "waited for Gmail quota");
      }
      // A retry re-reads the pool, so a level change meanwhile applies.
      if (attempt > 1) pool = await connections.resolvePool(accountId, connectionId);
      const slot = await gate.acquire(pool.poolId, pool.limit, { signal });
      let retryInMs: number;
      try {
        return await this.#attempt(accountId, connectionId, call);
      } catch (err) {
        if (err instanceof RateLimitedError) metrics?.rateLimited.inc({ iclient: scope });
        if (attempt >= maxAttempts) throw err;
        if (err instanceof RateLimitedError) {
          metrics?.retries.inc({ cause: "rate_limit" });
          const wait = retryAfterMs(err, clock.now()) ?? backoffMs(attempt, this.deps.backoff);
          const whose = rateLimitScope(err);
          log?.warn({ connectionId, poolId: pool.poolId, retryAfterMs: wait, limit: whose }, "Google rate limit: pausing pool");
          // Paused before the slot goes back, so the freed slot is not granted inside the pause; the
          // budget Google named shrinks too: the user's (someone else spends that mailbox's quota) or
          // the iClient's (the project's per-minute limit, spent by other users or other apps of the project).
          await gate.pause(pool.poolId, wait);
          await budget.shrink(scope, [whose === "project" ? project : user], wait).catch((e: unknown) => log?.warn({ err: e }, "quota budget: shrink failed"));
          continue;
        }
        const cause = transientCause(err);
        if (!cause || NON_IDEMPOTENT.has(method)) throw err;
        retryInMs = backoffMs(attempt, this.deps.backoff);
        metrics?.retries.inc({ cause });
        log?.warn(
          { connectionId, method, cause, status: err instanceof GoogleApiError ? err.status : undefined, attempt, retryInMs },
          "Google transient error: retrying",
        );
      } finally {
        await slot.release();
      }
      await clock.sleep(retryInMs, signal); // holding no slot
    }
  }

  /** The iClient's Gmail units of today (UTC) against its daily units, for the API and the iClients page. */
  async dailyUsage(iClientId: string | null): Promise<{ today: number; dailyLimit: number }> {
    const now = (this.deps.clock ?? systemClock).now();
    const today = await this.deps.budget.dailyTotal(iClientId ?? "platform", utcDay(now));
    return { today, dailyLimit: this.deps.quota.projectDailyUnits };
  }

  /** Count the call against its iClient's day; refuse it past the daily units, warn at 90 %. */
  async #countDay(scope: string, units: number, now: number): Promise<void> {
    const limit = this.deps.quota.projectDailyUnits;
    let { total, counted } = await this.deps.budget.spendDaily(scope, utcDay(now), units, limit);
    // Past the threshold only an iClient that allows billed usage goes on (still counted, so its usage shows).
    if (!counted && (await this.#allowsBilledUsage(scope, now))) ({ total, counted } = await this.deps.budget.spendDaily(scope, utcDay(now), units, Infinity));
    if (!counted) {
      this.deps.metrics?.dailyRefused.inc({ iclient: scope });
      throw new DailyQuotaReachedError(scope, limit, nextUtcDay(now));
    }
    const warnAt = limit * DAILY_WARNING_SHARE;
    if (total >= warnAt && total - units < warnAt) {
      this.deps.log?.warn({ iClientId: scope, spent: total, limit }, "Gmail daily quota: 90 % of the iClient's units spent today");
    }
  }

  async #allowsBilledUsage(scope: string, now: number): Promise<boolean> {
    if (!this.deps.allowsBilledUsage || scope === "platform") return false;
    const known = this.#billed.get(scope);
    if (known && now - known.at < BILLED_USAGE_TTL_MS && now >= known.at) return known.allowed;
    const allowed = await this.deps.allowsBilledUsage(scope);
    this.#billed.set(scope, { allowed, at: now });
    return allowed;
  }

  /** One attempt: the call with a valid token; a 401 refreshes the token once. */
  async #attempt<T>(accountId: string, connectionId: string, call: (gmail: gmail_v1.Gmail, options: GmailCallOptions) => Promise<T>): Promise<T> {
    const { tokens, endpoints } = this.deps;
    const options = gmailCallOptions(endpoints);
    let t = await tokens.accessToken(accountId, connectionId);
    try {
      return await call(gmailClient(t.accessToken), options);
    } catch (err) {
      const mapped = toConnectorError(err);
      if (!(mapped instanceof GoogleApiError && mapped.status === 401)) throw mapped ?? err;
      // Google refused a token we thought valid (revoked access token, clock skew): refresh once.
      t = await tokens.accessToken(accountId, connectionId, t.accessToken);
      try {
        return await call(gmailClient(t.accessToken), options);
      } catch (again) {
        throw toConnectorError(again) ?? again;
      }
    }
  }
}
