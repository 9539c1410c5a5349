/**
 * Per-user quota in units per minute (GOOGLE.md "Quota"): Google counts it per user per project,
 * so each (OAuth client, Gmail user) pair has its own sliding 60-second window of the units each
 * call cost, read against the injected clock so tests move time without sleeping.
 */

export const QUOTA_WINDOW_MS = 60_000;
/** Google's per-user limit since 2026 (15,000 before). */
export const DEFAULT_QUOTA_UNITS_PER_MINUTE = 6_000;

/** The key a per-user quota window is counted under: one per (project, user). */
export function quotaKey(clientId: string, email: string): string {
  return `${clientId}\u0000${email.toLowerCase()}`;
}

/** Units per call, by method. */
export const COST = {
  getProfile: 1,
  labelsRead: 1,
  historyList: 2,
  messagesList: 5,
  messagesGet: 5,
  messagesModify: 5,
  attachmentsGet: 5,
  draftsRead: 5,
  labelsWrite: 5,
  draftsCreate: 10,
  draftsDelete: 10,
  messagesDelete: 10,
  threads: 10,
  draftsUpdate: 15,
  threadsDelete: 20,
  messagesInsert: 25,
  batchModify: 50,
  send: 100,
} as const;

export class QuotaMeter {
  private readonly spent = new Map<string, Array<{ at: number; units: number }>>();

  constructor(private readonly now: () => number) {}

  /** Units used under `user` (a {@link quotaKey}) in the last minute. */
  used(user: string): number {
    const window = this.window(user);
    return window.reduce((sum, e) => sum + e.units, 0);
  }

  /** Charges `units` if they fit under `limit`; false means refuse the call. */
  charge(user: string, units: number, limit: number): boolean {
    if (this.used(user) + units > limit) return false;
    this.window(user).push({ at: this.now(), units });
    return true;
  }

  reset(): void {
    this.spent.clear();
  }

  private window(user: string): Array<{ at: number; units: number }> {
    const cutoff = this.now() - QUOTA_WINDOW_MS;
    const entries = (this.spent.get(user) ?? []).filter((e) => e.at > cutoff);
    this.spent.set(user, entries);
    return entries;
  }
}
