/**
 * `type: "module"` sink: hands records to a JS output module's `handler(thread, src, buf, msg)`.
 *
 * Exactly one of `buf` (legacy record) and `msg` (extended record) is non-null, as in netconsd.
 * Incident and event records are not passed to `handler` (netconsd modules know only the two
 * message kinds); a module that wants them exports `record(rec)`, which receives every record.
 * A handler that throws (or rejects) is counted and logged, rate-limited; it never stops the worker.
 * C modules (shared objects) are run by `./native.ts`.
 */
import type { Sink, SinkContext, SinkFactory, SinkStats } from '../types.js'
import type { NetconsRecord } from '../../types.js'
import { RateLimitedLog } from '../../log.js'
import { importOutputModule, initOutputModule, resolveModulePath, type OutputModule } from './load.js'
import { createNativeModuleSink, isSharedObject } from './native.js'

export interface ModuleSinkOptions {
  /** Path of the module file (relative to the config file's directory). */
  path: string
}

class ModuleSink implements Sink {
  readonly #mod: OutputModule
  readonly #ctx: SinkContext
  readonly #errLog = new RateLimitedLog()
  readonly #pending = new Set<Promise<unknown>>()
  #closed = false
  #sent = 0
  #failed = 0
  #droppedClosed = 0

  readonly wantsWireBody: boolean

  constructor (mod: OutputModule, ctx: SinkContext) {
    this.#mod = mod
    this.#ctx = ctx
    this.wantsWireBody = mod.wantsWireBody === true
  }

  write (rec: NetconsRecord): void {
    if (this.#closed) { this.#droppedClosed++; return }
    try {
      let r: unknown
      if (this.#mod.record !== undefined) r = this.#mod.record(rec)
      if (rec.kind === 'log') {
        const legacy = rec.format === 'legacy'
        r = this.#mod.handler(rec.thread, rec.src, legacy ? rec : null, legacy ? null : rec)
      }
      if (r !== undefined && r !== null && typeof (r as Promise<unknown>).then === 'function') {
        const p = (r as Promise<unknown>).then(() => { this.#sent++ }, (err: unknown) => { this.#fail(err) })
          .finally(() => this.#pending.delete(p))
        this.#pending.add(p)
      } else {
        this.#sent++
      }
    } catch (err) {
      this.#fail(err)
    }
  }

  #fail (err: unknown): void {
    this.#failed++
    const n = this.#errLog.check('handler')
    if (n >= 0) {
      this.#ctx.logger.error({ err, module: this.#mod.path, sinkId: this.#ctx.sinkId, suppressed: n, errorType: 'module', stage: 'sending' },
        'Output module handler threw.')
    }
  }

  async flush (): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
  }

  async close (): Promise<void> {
    if (this.#closed) return
    await this.flush()
    this.#closed = true
    if (this.#mod.exit !== undefined) {
      try {
        await this.#mod.exit()
      } catch (err) {
        this.#ctx.logger.error({ err, module: this.#mod.path }, 'Output module exit() threw.')
      }
    }
  }

  stats (): SinkStats {
    return { sent: this.#sent, failed: this.#failed, retried: 0, dropped: { handler_error: this.#failed, closed: this.#droppedClosed }, queueDepth: this.#pending.size }
  }
}

export const createModuleSink: SinkFactory<ModuleSinkOptions> = async (options, ctx) => {
  const path = resolveModulePath(options.path, ctx.configDir)
  // A C module (netconsd's `.so`), told apart by its ELF magic rather than its name.
  if (isSharedObject(path)) return createNativeModuleSink(path, ctx)
  const mod = await importOutputModule(path)
  await initOutputModule(mod, ctx.workerCount)
  return new ModuleSink(mod, ctx)
}
