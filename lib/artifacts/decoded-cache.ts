/**
 * Keeps the last few decoded artifacts in memory, keyed by digest. Artifacts are
 * immutable (the digest names the bytes), so an entry never goes stale; the cache only
 * spares activities of one pipeline from parsing the same snapshot again and again.
 */
export class DecodedArtifactCache {
  private readonly entries = new Map<string, unknown>();

  constructor(private readonly capacity = 4) {}

  async get<T>(digest: string, load: () => Promise<T>): Promise<T> {
    if (this.entries.has(digest)) {
      const value = this.entries.get(digest) as T;
      // Re-insert to mark it most recently used.
      this.entries.delete(digest);
      this.entries.set(digest, value);
      return value;
    }
    const value = await load();
    this.set(digest, value);
    return value;
  }

  set(digest: string, value: unknown): void {
    this.entries.delete(digest);
    this.entries.set(digest, value);
    while (this.entries.size > this.capacity)
      this.entries.delete(this.entries.keys().next().value!);
  }
}
