/**
 * Per-host boot-time estimates, to turn the kernel's boot-relative `ts_usec` into wall-clock time.
 *
 * netconsole carries no wall-clock time: the extended header's timestamp is microseconds since
 * the sender booted (printk's local_clock, Documentation/networking/netconsole.rst "Extended
 * console"). Every record gives one estimate of the boot instant, `receivedAt - tsUsec`. Network
 * and queueing delay only ever make an estimate *later* than the truth, so the minimum seen is
 * the best one. The estimate starts over when:
 *   - the stream resets (`seqReset`: first message, reboot, ncrx reset), or
 *   - the kernel clock goes backwards by more than a second (a reboot the sequence did not show,
 *     e.g. legacy records), or
 *   - `reanchorAfter` records in a row are all later than the estimate by more than
 *     `reanchorSlackMs`: the sender was suspended (local_clock stops) or our clock was stepped.
 * Memory is bounded: least recently seen hosts (CLOCK) are forgotten beyond `maxHosts`.
 */

export interface BootClockOptions {
  maxHosts?: number
  /** How far (ms) later than the estimate a record must be to count towards re-anchoring. */
  reanchorSlackMs?: number
  /** Consecutive late records that move the estimate (to the earliest of them). */
  reanchorAfter?: number
}

interface HostClock {
  /** Estimated boot instant, µs since the epoch. */
  bootUs: number
  lastTsUsec: number
  lateRun: number
  lateMinUs: number
  /** Seen since the eviction hand last passed (CLOCK: a touch costs a store, not a Map re-insert). */
  ref: boolean
}

export class BootClock {
  readonly #hosts = new Map<string, HostClock>()
  readonly #maxHosts: number
  readonly #slackUs: number
  readonly #reanchorAfter: number

  constructor (opts: BootClockOptions = {}) {
    this.#maxHosts = opts.maxHosts ?? 100_000
    this.#slackUs = (opts.reanchorSlackMs ?? 2000) * 1000
    this.#reanchorAfter = opts.reanchorAfter ?? 32
  }

  get size (): number { return this.#hosts.size }

  /**
   * Feeds one record and returns its wall-clock time in µs since the epoch, or null when the
   * record has no kernel timestamp. Call in record order per host; `oos` records (delivered out
   * of order by ncrx) may be older and never count as the clock going backwards.
   */
  observe (host: string, tsUsec: number | null, receivedAtMs: number, seqReset: boolean, oos = false): number | null {
    if (tsUsec === null || !Number.isFinite(tsUsec) || tsUsec < 0) return null
    const estUs = Math.round(receivedAtMs * 1000) - Math.round(tsUsec)
    let h = this.#hosts.get(host)
    if (h !== undefined && (seqReset || (!oos && tsUsec < h.lastTsUsec - 1_000_000))) {
      // A new boot: anchor afresh.
      h.bootUs = estUs
      h.lastTsUsec = tsUsec
      h.lateRun = 0
      h.lateMinUs = 0
      h.ref = true
    } else if (h !== undefined) {
      h.ref = true
      if (estUs < h.bootUs) {
        h.bootUs = estUs
        h.lateRun = 0
      } else if (estUs > h.bootUs + this.#slackUs) {
        h.lateMinUs = h.lateRun === 0 ? estUs : Math.min(h.lateMinUs, estUs)
        if (++h.lateRun >= this.#reanchorAfter) {
          h.bootUs = h.lateMinUs
          h.lateRun = 0
        }
      } else {
        h.lateRun = 0
      }
      if (tsUsec > h.lastTsUsec) h.lastTsUsec = tsUsec
    } else {
      h = { bootUs: estUs, lastTsUsec: tsUsec, lateRun: 0, lateMinUs: 0, ref: false }
      if (this.#hosts.size >= this.#maxHosts) this.#evictOne()
      this.#hosts.set(host, h)
    }
    return h.bootUs + Math.round(tsUsec)
  }

  /**
   * Forgets one host that has not been seen lately: CLOCK over the Map's insertion order (hosts
   * seen since the hand passed get a second chance at the end), so the least recently seen go
   * first without reordering the Map on every record.
   */
  #evictOne (): void {
    for (const [k, h] of this.#hosts) {
      this.#hosts.delete(k)
      if (!h.ref) return
      h.ref = false
      this.#hosts.set(k, h)
    }
  }

  /** The current boot estimate for a host (µs since the epoch), if known. */
  bootTimeUs (host: string): number | undefined {
    return this.#hosts.get(host)?.bootUs
  }
}
