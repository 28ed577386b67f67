/**
 * Daemon logging: pino, JSON by default, pretty when stderr is a TTY (or forced), to stderr so
 * that stdout stays free for the printer output (netconsd prints messages on stdout).
 *
 * The pretty format is built in (a small synchronous formatter below), not pino-pretty: a pino
 * transport is resolved at run time, so a devDependency there breaks `npx netconsd` in a terminal
 * for everyone who installed the package without dev dependencies.
 */
import { writeSync } from 'node:fs'
import { pino, type Logger, type LevelWithSilent, type LoggerOptions, type DestinationStream } from 'pino'
import { redactDeep, redactText } from './redact.js'

export type { Logger }

export interface LogOptions {
  level?: LevelWithSilent | (string & {})
  /** `json` | `pretty` | `auto` (pretty when stderr is a TTY). */
  format?: 'json' | 'pretty' | 'auto'
}

export function createLogger (opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.NETCONSD_LOG_LEVEL ?? 'info'
  const format = opts.format ?? 'auto'
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true)
  const base: LoggerOptions = { level, base: { name: 'netconsd' }, ...redacting }
  if (pretty) return pino(base, prettyDestination(2, process.stderr.isTTY === true && process.env.NO_COLOR === undefined))
  return pino(base, pino.destination({ fd: 2, sync: true }))
}

/**
 * Every line's fields and message pass through src/redact.ts: no URL userinfo or query, no header
 * value, whichever code logged it (a sink, a peer's error text, a config error).
 */
const redacting: Pick<LoggerOptions, 'formatters' | 'hooks'> = {
  formatters: { log: (obj) => redactDeep(obj) as Record<string, unknown> },
  hooks: {
    logMethod (args, method) {
      for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactText(args[i] as string)
      method.apply(this, args)
    }
  }
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '90'], 20: ['DEBUG', '34'], 30: ['INFO', '32'], 40: ['WARN', '33'], 50: ['ERROR', '31'], 60: ['FATAL', '35']
}
// pino's own keys, printed in the line's head rather than as fields.
const HEAD_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg'])

function pad (n: number, w = 2): string { return String(n).padStart(w, '0') }

/** Formats one pino JSON line as `HH:MM:SS.mmm LEVEL (name): msg` plus indented `key: value` fields. */
function formatPretty (line: string, color = false): string {
  let o: Record<string, unknown>
  try { o = JSON.parse(line) as Record<string, unknown> } catch { return line.endsWith('\n') ? line : line + '\n' }
  const paint = (code: string, s: string): string => color ? `\x1b[${code}m${s}\x1b[39m` : s
  const t = new Date(typeof o.time === 'number' ? o.time : Date.now())
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`
  const [label, code] = LEVELS[o.level as number] ?? [String(o.level), '39']
  let out = `[${time}] ${paint(code, label)}`
  if (typeof o.thread === 'number' || typeof o.thread === 'string') out += ` (${String(o.thread)})`
  out += `: ${typeof o.msg === 'string' ? o.msg : ''}\n`
  for (const [k, v] of Object.entries(o)) {
    if (HEAD_KEYS.has(k) || k === 'thread') continue
    if (k === 'err' && typeof v === 'object' && v !== null && typeof (v as { stack?: unknown }).stack === 'string') {
      out += `    ${k}: ${(v as { stack: string }).stack.replace(/\n/g, '\n      ')}\n`
      continue
    }
    out += `    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}\n`
  }
  return out
}

/** A synchronous pino destination that pretty-prints to `fd`; synchronous so a fatal line is out before exit. */
function prettyDestination (fd: number, color: boolean): DestinationStream & { flush: () => void } {
  return {
    write (chunk: string) {
      try { writeSync(fd, formatPretty(chunk, color)) } catch { /* stderr gone: nowhere left to log */ }
    },
    flush () {}
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
