/**
 * Daemon logging: pino, JSON by default, pretty when stderr is a TTY (or forced), to stderr so
 * that stdout stays free for the printer output (netconsd prints messages on stdout).
 */
import { pino, type Logger, type LevelWithSilent, type LoggerOptions } from 'pino'
import { redactDeep, redactText } from './redact.js'

export type { Logger }

export interface LogOptions {
  level?: LevelWithSilent | string
  /** `json` | `pretty` | `auto` (pretty when stderr is a TTY). */
  format?: 'json' | 'pretty' | 'auto'
}

export function createLogger (opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.NETCONSD_LOG_LEVEL ?? 'info'
  const format = opts.format ?? 'auto'
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true)
  const base: LoggerOptions = { level, base: { name: 'netconsd' }, ...redacting }
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:standard' } }
    })
  }
  return pino(base, pino.destination({ fd: 2, sync: true }))
}

/**
 * Every line's fields and message pass through src/redact.ts: no URL userinfo or query, no header
 * value, whichever code logged it (a sink, a peer's error text, a config error).
 */
export const redacting: Pick<LoggerOptions, 'formatters' | 'hooks'> = {
  formatters: { log: (obj) => redactDeep(obj) as Record<string, unknown> },
  hooks: {
    logMethod (args, method) {
      for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactText(args[i] as string)
      method.apply(this, args)
    }
  }
}

/**
 * Lets one log line per key through per interval and counts the rest, so a flood of bad packets
 * or a failing module cannot flood the log. The suppressed count is reported with the next line.
 */
export class RateLimitedLog {
  readonly #intervalMs: number
  readonly #state = new Map<string, { last: number, suppressed: number }>()

  constructor (intervalMs = 10_000) {
    this.#intervalMs = intervalMs
  }

  /** Returns the number of suppressed repeats to report if the caller should log now, or -1 to stay quiet. */
  check (key: string, now = Date.now()): number {
    const s = this.#state.get(key)
    if (s === undefined) {
      if (this.#state.size > 1000) this.#state.clear()
      this.#state.set(key, { last: now, suppressed: 0 })
      return 0
    }
    if (now - s.last >= this.#intervalMs) {
      const n = s.suppressed
      s.last = now
      s.suppressed = 0
      return n
    }
    s.suppressed++
    return -1
  }
}
