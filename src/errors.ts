/**
 * The one catalogue of error codes. Codes are stable (`NETCONSD_ERR_AREA_WHAT`), documented in
 * README.md ("Errors"), and a test keeps the two in sync. Tests assert `err.code`, never text.
 */

export const ERROR_CODES = {
  NETCONSD_ERR_CLI_USAGE: 'A command-line flag or argument is invalid.',
  NETCONSD_ERR_CONFIG_INVALID: 'The configuration failed validation; `errors` lists every problem.',
  NETCONSD_ERR_CONFIG_READ: 'The configuration file could not be read or parsed.',
  NETCONSD_ERR_CONFIG_VERSION: 'The configuration is for another major version.',
  NETCONSD_ERR_MODULE_LOAD: 'An output module could not be loaded or has the wrong exports.',
  NETCONSD_ERR_MODULE_INIT: 'An output module\'s init() threw or rejected.',
  NETCONSD_ERR_INGEST_BIND: 'The UDP socket could not be bound.',
  NETCONSD_ERR_INGEST_OPTIONS: 'A receive socket option is out of range (port, batch size, buffer or datagram size).',
  NETCONSD_ERR_NATIVE_UNAVAILABLE: 'The native receive addon is not built or cannot be loaded here; `reason` says why (the JS receive path still works).',
  NETCONSD_ERR_WORKER_CRASH: 'A worker thread exited unexpectedly.',
  NETCONSD_ERR_SINK_CLOSED: 'A record was written to a sink after close().',
  NETCONSD_ERR_SINK_SEND: 'A sink failed to deliver a batch.',
  NETCONSD_ERR_SINK_TIMEOUT: 'A sink send attempt took longer than `requestTimeoutMs` and was aborted (it is retried).',
  NETCONSD_ERR_SINK_OPTIONS: 'A sink\'s options are unusable at run time (a TLS file cannot be read, a template does not parse).',
  NETCONSD_ERR_CAPTURE_READ: 'A capture file (JSONL, pcap, pcapng) could not be read or is malformed.',
  NETCONSD_ERR_METRICS_LISTEN: 'The metrics endpoint address (`metrics.listen`) is invalid or cannot be bound.',
  NETCONSD_ERR_ADMISSION_CIDR: 'An admission allow/deny entry is not an IPv4/IPv6 address or CIDR.',
  NETCONSD_ERR_BUFFER_OPEN: 'A sink\'s on-disk buffer directory cannot be created, read or written.',
  NETCONSD_ERR_BUFFER_LOCKED: 'A sink\'s on-disk buffer directory is in use by another running process.',
  NETCONSD_ERR_BUFFER_FULL: 'A sink\'s on-disk buffer is full and its policy is `block`: the batch is retried later.',
  NETCONSD_ERR_BUFFER_CLOSED: 'A sink\'s on-disk buffer was used after close().'
} as const

export type ErrorCode = keyof typeof ERROR_CODES

const kBrand = Symbol.for('netconsd.error')

export class NetconsdError extends Error {
  readonly code: ErrorCode
  readonly [kBrand] = true;
  [field: string]: unknown

  constructor (code: ErrorCode, message: string, fields: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NetconsdError'
    this.code = code
    Object.assign(this, fields)
  }

  static override [Symbol.hasInstance] (x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[kBrand] === true
  }
}

/** Structured clone drops `code` and the class (Node 20), so errors cross threads as plain objects. */
export interface SerializedError {
  name: string
  message: string
  stack?: string
  code?: string
  fields?: Record<string, unknown>
}

export function serializeError (err: unknown): SerializedError {
  if (err instanceof Error) {
    const fields: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(err)) {
      if (k === 'code' || typeof v === 'function') continue
      try { structuredClone(v); fields[k] = v } catch { fields[k] = String(v) }
    }
    const out: SerializedError = { name: err.name, message: err.message, fields }
    if (err.stack !== undefined) out.stack = err.stack
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') out.code = code
    return out
  }
  return { name: 'Error', message: String(err) }
}

export function deserializeError (s: SerializedError): Error {
  const err = (s.code !== undefined && s.code in ERROR_CODES)
    ? new NetconsdError(s.code as ErrorCode, s.message, s.fields ?? {})
    : Object.assign(new Error(s.message), s.fields ?? {}, s.code !== undefined ? { code: s.code } : {})
  err.name = s.name
  if (s.stack !== undefined) err.stack = s.stack
  return err
}
