/**
 * A small in-process map whose entries expire: the API token and session
 * look-ups of every request are answered from it for a few seconds instead of
 * from the store. Bounded: when full, the oldest entry goes first.
 */
export class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    /** How long an entry is believed. */
    private readonly ttlMs: number,
    /** The most entries kept. */
    private readonly maxEntries: number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Keep `value` for the TTL, or until `notAfter` (ms since the epoch) when that is sooner. */
  set(key: string, value: V, notAfter = Infinity): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expiresAt: Math.min(Date.now() + this.ttlMs, notAfter) });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
