/**
 * What the daemon shows of a URL or a header: every log line, `/readyz` reason, `check-config`
 * line and error message goes through here, so a sink URL written as
 * `http://user:PASSWORD@collector/v1/logs?api_key=SECRET` is shown as `http://collector/v1/logs`.
 *
 * Origin + path only: userinfo, query and fragment are where people put credentials (basic auth,
 * `?api_key=`, `?token=`, signed URLs). Header values are never shown at all (`Authorization`,
 * `X-Api-Key`, ...); only their names are.
 *
 * The log and output paths also apply `redactText` to whole strings as a safety net, so a URL
 * that reaches a message by another road (a peer's error text, a config error quoting a value)
 * loses its secrets too.
 */

/** Placeholder for a header value, and for what is left of a URL that does not parse. */
const REDACTED = '[redacted]'

/** `scheme://authority/path?query#fragment` inside free text; stops at white space and quotes. */
const URL_IN_TEXT = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>`]+/g

/** Origin + path of a URL; `[redacted]` when it does not parse (it may be all secret). */
export function redactUrl (url: string | URL): string {
  let u: URL
  try {
    u = typeof url === 'string' ? new URL(url) : url
  } catch {
    return REDACTED
  }
  // `origin` is "null" for schemes without one (file:, custom): rebuild it without userinfo.
  const origin = u.origin !== 'null' ? u.origin : `${u.protocol}//${u.host}`
  return origin + u.pathname
}

/** Every URL inside a string, redacted; `user:pass@host` left without a scheme is cut too. */
export function redactText (s: string): string {
  if (!s.includes('://')) return s
  return s.replace(URL_IN_TEXT, (m) => {
    // Keep a trailing sentence mark out of the URL ("... at http://h/p.").
    const tail = /[.,;:)\]]+$/.exec(m)?.[0] ?? ''
    return redactUrl(m.slice(0, m.length - tail.length)) + tail
  })
}

/** Header names with every value replaced: for logs that want to say which headers are set. */
function redactHeaders (h: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(h ?? {})) out[k] = REDACTED
  return out
}

/**
 * A copy of a log object with `redactText` applied to every string in it (depth-limited, cycles
 * cut). Errors stay Errors (pino's `err` serializer needs the class), with message and stack
 * redacted; keys named like a header or a secret lose their value.
 */
export function redactDeep (v: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof v === 'string') return redactText(v)
  if (v === null || typeof v !== 'object' || depth > 8) return v
  if (seen.has(v)) return v
  seen.add(v)
  if (ArrayBuffer.isView(v) || v instanceof Date) return v
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, depth + 1, seen))
  const isError = v instanceof Error
  const out: Record<string, unknown> = isError ? Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown> : {}
  if (isError) {
    // message and stack are own but not enumerable: copy them explicitly.
    Object.defineProperty(out, 'message', { value: redactText(v.message), enumerable: false, writable: true, configurable: true })
    if (typeof v.stack === 'string') Object.defineProperty(out, 'stack', { value: redactText(v.stack), enumerable: false, writable: true, configurable: true })
    if (v.cause !== undefined) Object.defineProperty(out, 'cause', { value: redactDeep(v.cause, depth + 1, seen), enumerable: false, writable: true, configurable: true })
  }
  for (const [k, x] of Object.entries(v)) {
    out[k] = SECRET_KEY.test(k) && x !== undefined && x !== null && typeof x !== 'object' ? REDACTED : k === 'headers' && x !== null && typeof x === 'object' ? redactHeaders(x as Record<string, unknown>) : redactDeep(x, depth + 1, seen)
  }
  return out
}

/** Keys whose values are secrets by name, wherever they appear in a log object. */
const SECRET_KEY = /^(authorization|password|passwd|token|api[_-]?key|secret|cookie|set-cookie|x-api-key)$/i
