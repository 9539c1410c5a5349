import { abortReason, type PoolGate } from "./gate.ts";

/** A pool as the caller resolved it: the lender's id and its effective limit. */
export interface PoolRef {
  id: string;
  /** The limit, or a function read before every attempt so a level change applies to the next request. */
  limit: number | (() => Promise<number> | number);
}

/** What a rate-limit answer asks for; `retryAfterMs` absent means "back off exponentially". */
export interface RateLimitVerdict {
  retryAfterMs?: number;
}

/** Options of {@link runInPool}. */
export interface RunInPoolOptions {
  /** Returns a verdict when `err` is a rate limit (Google 429, or 403 `rateLimitExceeded`), else null. */
  classify?: (err: unknown) => RateLimitVerdict | null;
  /**
   * Attempts in all, the first included; once spent the last rate-limit error is thrown.
   * @defaultValue `DEFAULT_MAX_ATTEMPTS` (8)
   */
  maxAttempts?: number;
  /** Aborts waiting for a slot (and further retries); `fn` itself is not interrupted. */
  signal?: AbortSignal;
  /**
   * Exponential backoff when the verdict has no `retryAfterMs`: `baseMs * 2^(attempt-1)`,
   * capped at `maxMs`, with the upper half jittered.
   * @defaultValue `{ baseMs: 1_000, maxMs: 64_000 }` (Google's truncated exponential backoff)
   */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Randomness of the jitter, for tests. @defaultValue `Math.random` */
  random?: () => number;
}

export const DEFAULT_MAX_ATTEMPTS = 8;
export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_MAX_MS = 64_000;

/** The backoff before attempt `attempt + 1`: exponential, capped, upper half random. */
export function backoffMs(attempt: number, opts: RunInPoolOptions["backoff"] = {}, random = Math.random): number {
  const base = opts.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Run `fn` holding a slot of `pool`. When `classify` calls its error a rate limit, the whole pool
 * is paused for `retryAfterMs` (or an exponential backoff) before the slot is given back, and `fn`
 * waits for a slot again; any other error is rethrown at once.
 */
export async function runInPool<T>(
  gate: PoolGate,
  pool: PoolRef,
  fn: () => Promise<T>,
  opts: RunInPoolOptions = {},
): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    const limit = typeof pool.limit === "function" ? await pool.limit() : pool.limit;
    const slot = await gate.acquire(pool.id, limit, { signal: opts.signal });
    try {
      return await fn();
    } catch (err) {
      const verdict = opts.classify?.(err) ?? null;
      if (!verdict || attempt >= maxAttempts) throw err;
      const wait = verdict.retryAfterMs ?? backoffMs(attempt, opts.backoff, opts.random);
      // Paused before the slot goes back, so the freed slot is not granted inside the pause.
      await gate.pause(pool.id, wait);
    } finally {
      await slot.release();
    }
  }
}
