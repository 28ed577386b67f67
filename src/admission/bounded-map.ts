/**
 * A map with a hard size cap and O(1) eviction, for per-source tables that hostile input
 * (spoofed source addresses) could otherwise grow without bound.
 *
 * Two generations: entries are written to `young`; when it holds half the cap, `young` becomes
 * `old` and the previous `old` is dropped whole (its entries counted as evicted). A hit in `old`
 * moves the entry back to `young`. So anything used within the last cap/2 insertions survives:
 * an approximate LRU. (Evicting one entry at a time through `Map#keys().next()` looks O(1) but
 * V8 skips the deleted slots at the front of the table on every call, which made a spoofed-source
 * flood quadratic.)
 */
export class BoundedMap<K, V> {
  readonly #half: number
  #young = new Map<K, V>()
  #old = new Map<K, V>()
  /** Entries dropped because of the cap (not by `delete` or `clear`). */
  evictions = 0

  constructor (maxEntries: number) {
    this.#half = Math.max(1, Math.floor(Math.max(2, maxEntries) / 2))
  }

  get size (): number { return this.#young.size + this.#old.size }

  get maxEntries (): number { return this.#half * 2 }

  get (key: K): V | undefined {
    const v = this.#young.get(key)
    if (v !== undefined) return v
    const o = this.#old.get(key)
    if (o !== undefined) {
      this.#old.delete(key)
      this.#insert(key, o)
    }
    return o
  }

  set (key: K, value: V): void {
    if (this.#young.has(key)) { this.#young.set(key, value); return }
    this.#old.delete(key)
    this.#insert(key, value)
  }

  delete (key: K): boolean {
    return this.#young.delete(key) || this.#old.delete(key)
  }

  clear (): void {
    this.#young.clear()
    this.#old.clear()
  }

  values (): IterableIterator<V> {
    const y = this.#young.values()
    const o = this.#old.values()
    return (function * () { yield * y; yield * o })()
  }

  #insert (key: K, value: V): void {
    if (this.#young.size >= this.#half) {
      this.evictions += this.#old.size
      this.#old = this.#young
      this.#young = new Map()
    }
    this.#young.set(key, value)
  }
}
