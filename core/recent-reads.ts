/**
 * Reads remembered for a moment, for paths that read the same row for every call (the Gmail
 * choke point reads a connection and its tokens before each request). Concurrent readers of
 * one key share one query; a read answers from memory for at most the age its caller allows;
 * a write through {@link RecentReads.writing} drops every remembered read, also one begun
 * before the write. The stores that write one table share one instance, so a write through any
 * of them is seen at once by this process; another process's write shows within the age.
 */
export class RecentReads {
  readonly #recent = new Map<string, { at: number; value: Promise<unknown> }>();
  /** Bumped by every write: a read begun before one is not remembered. */
  #generation = 0;

  /**
   * @param maxAgeMs the longest any caller may be answered from memory
   * @param maxEntries past this many keys, the oldest reads are forgotten
   */
  constructor(
    readonly maxAgeMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * `load()`, or what it gave for `key` less than `maxAgeMs` ago (capped at the instance's
   * maximum; 0 reads afresh). A failed load, or a value `keep` refuses, is not remembered.
   */
  read<V>(key: string, maxAgeMs: number, load: () => Promise<V>, keep: (value: V) => boolean = (v) => v !== undefined): Promise<V> {
    const now = Date.now();
    const age = Math.min(maxAgeMs, this.maxAgeMs);
    const known = this.#recent.get(key);
    if (known && now >= known.at && now - known.at < age) return known.value as Promise<V>;
    const generation = this.#generation;
    const value = load();
    this.#recent.delete(key); // re-inserted last: the map's order is the reads' age
    this.#recent.set(key, { at: now, value });
    if (this.#recent.size > this.maxEntries) this.#recent.delete(this.#recent.keys().next().value!);
    const drop = () => {
      if (this.#recent.get(key)?.value === value) this.#recent.delete(key);
    };
    value.then((v) => {
      if (!keep(v) || generation !== this.#generation) drop();
    }, drop);
    return value;
  }

  /** Forget every remembered read. */
  forget(): void {
    this.#generation++;
    this.#recent.clear();
  }

  /** Run a write with the remembered reads dropped before it and once it is done. */
  async writing<T>(fn: () => Promise<T>): Promise<T> {
    this.forget();
    try {
      return await fn();
    } finally {
      this.forget();
    }
  }
}
