/**
 * Turning transport outcomes into `SendResult`s, shared by the HTTP sinks (and usable by any
 * socket sink). Transports classify; the runner decides what to do (retry, drop, count).
 */
import type { SendResult } from '../types.js'
import { NetconsdError } from '../../errors.js'

/**
 * Statuses worth retrying: 429 Too Many Requests and the gateway/unavailable family, the same
 * set the OTLP/HTTP spec lists as retryable (Protocol Details, "Failures") and OTel JS uses.
 * 500 is not in it: a peer that crashes on a batch will crash on it again.
 */
const RETRYABLE_HTTP_STATUS: ReadonlySet<number> = new Set([408, 429, 502, 503, 504])

/**
 * `Retry-After` (RFC 9110 §10.2.3) is either delay-seconds or an HTTP-date. Returns milliseconds
 * from `now`, or undefined when absent or unparseable. A date in the past means "now" (0).
 */
export function parseRetryAfter (value: string | string[] | undefined | null, now = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined
  const v = (Array.isArray(value) ? value[0] : value)?.trim()
  if (v === undefined || v === '') return undefined
  if (/^\d+$/.test(v)) return Number(v) * 1000
  // An HTTP-date always names the day or month ("Sun, 06 Nov 1994 08:49:37 GMT"); this keeps
  // Date.parse from reading "-5" or "2" as a year.
  if (!/[a-z]{3}/i.test(v)) return undefined
  const t = Date.parse(v)
  if (Number.isNaN(t)) return undefined
  return Math.max(0, t - now)
}

/** Classifies an HTTP response status; `body` (truncated) is kept on the error for the log. */
export function classifyHttpStatus (status: number, headers: Record<string, string | string[] | undefined>, body = '', now = Date.now()): SendResult {
  if (status >= 200 && status < 300) return { status: 'ok' }
  const error = new NetconsdError('NETCONSD_ERR_SINK_SEND', `Peer answered HTTP ${status}.`, {
    httpStatus: status,
    body: body.length > 512 ? body.slice(0, 512) + '…' : body
  })
  if (RETRYABLE_HTTP_STATUS.has(status)) {
    const retryAfterMs = parseRetryAfter(headers['retry-after'], now)
    return retryAfterMs === undefined ? { status: 'retryable', error } : { status: 'retryable', error, retryAfterMs }
  }
  return { status: 'failed', error }
}

/** Classifies an error thrown by a socket or HTTP client. Unknown errors are retryable: losing data to a misclassified transient error is worse than a bounded retry. */
export function classifyNetworkError (err: unknown): SendResult {
  const error = err instanceof Error ? err : new Error(String(err))
  const code = (error as { code?: unknown }).code
  // A malformed URL will not get better. Certificate errors stay retryable: they are usually fixed
  // on the peer (a renewed certificate), and retrying keeps the queued records until then.
  if (code === 'ERR_INVALID_URL' || code === 'ERR_INVALID_PROTOCOL') return { status: 'failed', error }
  return { status: 'retryable', error }
}
