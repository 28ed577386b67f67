/**
 * `type: "pager"` sinks: the worker half of paging. A rule routes incidents (and, if wanted,
 * lifecycle events) to a pager sink id; in each worker that sink only forwards the record to the
 * main thread, where the `Pager` of the same id decides page / suppress / summarise and writes
 * to its target sinks (`to`, webhook sinks created on the main thread).
 *
 *   worker: createPagerSink(options, ctx).write(rec) ─► channel(ctx.sinkId, rec)   (postMessage)
 *   main:   createPager(options, targets).offer(rec)
 *
 * The channel is set once per worker by the worker entry (`setPagerChannel`); without one (a
 * tool running without workers and without a channel) records are counted as dropped.
 */
import type { Logger } from 'pino'
import type { NetconsRecord } from '../types.js'
import type { Sink, SinkContext, SinkFactory, SinkStats } from '../sinks/types.js'
import type { PagerConfig } from './config.js'
import { Pager } from './pager.js'

export interface PagerSinkOptions extends Partial<PagerConfig> {
  type?: 'pager'
  /** Sink ids the main-thread pager writes pages to (webhook sinks: pagerduty, slack, ...). */
  to: string[]
}

export type PagerChannel = (sinkId: string, rec: NetconsRecord) => void

let channel: PagerChannel | null = null

/** Worker entry: where pager sinks send what they are given (a postMessage to the main thread). */
export function setPagerChannel (fn: PagerChannel | null): void {
  channel = fn
}

class PagerForwarder implements Sink {
  readonly #sinkId: string
  readonly #logger: Logger
  #closed = false
  #warned = false
  readonly #stats: SinkStats = { sent: 0, failed: 0, retried: 0, dropped: {}, queueDepth: 0 }

  constructor (ctx: SinkContext) {
    this.#sinkId = ctx.sinkId
    this.#logger = ctx.logger
  }

  write (rec: NetconsRecord): void {
    if (this.#closed) return this.#drop('closed')
    // Paging is for incidents and host events: a log line routed here by a too-wide rule is
    // counted, not paged.
    if (rec.kind === 'log') return this.#drop('not_incident')
    if (channel === null) {
      if (!this.#warned) {
        this.#warned = true
        this.#logger.error({ sinkId: this.#sinkId }, 'Pager sink has no channel to the main thread; pages are dropped.')
      }
      return this.#drop('no_channel')
    }
    channel(this.#sinkId, rec)
    this.#stats.sent++
  }

  #drop (reason: string): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + 1
  }

  async flush (): Promise<void> {}

  async close (): Promise<void> {
    this.#closed = true
  }

  stats (): SinkStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } }
  }
}

/** The `pager` sink factory used in workers. */
export const createPagerSink: SinkFactory<PagerSinkOptions> = (_options, ctx) => new PagerForwarder(ctx)

/** Main thread: the Pager for one `pager` sink config, writing to the already-built target sinks. */
export function createPager (options: PagerSinkOptions, targets: readonly Sink[], logger?: Logger): Pager {
  const config: Partial<PagerConfig> = {}
  if (options.suppressWindowMs !== undefined) config.suppressWindowMs = options.suppressWindowMs
  if (options.fleetThresholdHosts !== undefined) config.fleetThresholdHosts = options.fleetThresholdHosts
  if (options.fleetWindowMs !== undefined) config.fleetWindowMs = options.fleetWindowMs
  if (options.neverSuppressTypes !== undefined) config.neverSuppressTypes = options.neverSuppressTypes
  if (options.maxKeys !== undefined) config.maxKeys = options.maxKeys
  return new Pager({ config, sinks: targets, ...(logger !== undefined ? { logger } : {}) })
}
