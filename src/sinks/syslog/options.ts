/**
 * `type: "syslog"` options: the user-facing shape (validated by `schemas/sinks/syslog.schema.json`)
 * and the resolved form with every default filled in. Delivery options (queue, batching, retry)
 * belong to the shared runner and are split off before this.
 */
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { NetconsdError } from '../../errors.js'
import { FACILITY_NAMES, SEVERITY_NAMES, type FacilityName, type SeverityName } from './fields.js'
import type { Rfc5424Options } from './rfc5424.js'

export type SyslogProtocol = 'udp' | 'tcp' | 'tls'
export type SyslogFraming = 'octet-counting' | 'lf'

export interface SyslogTlsOptions {
  /** PEM file of the CA(s) that signed the receiver's certificate; default: Node's built-in roots. */
  ca?: string
  /** PEM client certificate file, for receivers that require mutual TLS (RFC 5425 §5.2). */
  cert?: string
  /** PEM private key file of `cert`. */
  key?: string
  passphrase?: string
  /** Name to verify in the receiver's certificate (and SNI); default `host`. */
  servername?: string
  /** Default true. false accepts any certificate: for tests only. */
  rejectUnauthorized?: boolean
}

export interface SyslogSinkOptions {
  host: string
  port?: number
  protocol?: SyslogProtocol
  format?: 'rfc5424' | 'rfc3164'
  framing?: SyslogFraming
  multiline?: 'keep' | 'escape'
  appName?: string
  hostname?: 'name' | 'address'
  facility?: 'record' | FacilityName
  legacySeverity?: SeverityName
  enterpriseId?: number
  includeDict?: boolean
  includeLabels?: boolean
  utf8Bom?: boolean
  maxMessageBytes?: number
  connectTimeoutMs?: number
  reconnectBackoffMs?: number
  reconnectBackoffMaxMs?: number
  tls?: SyslogTlsOptions
}

export interface ResolvedTls {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  passphrase?: string
  servername?: string
  rejectUnauthorized: boolean
}

export interface ResolvedSyslogOptions extends Rfc5424Options {
  host: string
  port: number
  protocol: SyslogProtocol
  format: 'rfc5424' | 'rfc3164'
  /** null for UDP (one message per datagram, RFC 5426 §3.1). */
  framing: SyslogFraming | null
  connectTimeoutMs: number
  reconnectBackoffMs: number
  reconnectBackoffMaxMs: number
  tls: ResolvedTls | null
}

/**
 * Default message limits: RFC 5426 §3.2 (UDP receivers SHOULD accept 2048 octets), RFC 3164
 * §4.1 (1024), and for TCP/TLS 8096: rsyslog's built-in `maxMessageSize` (8.2302's glbl.c default,
 * not 8192: a MSG-LEN of 8097 makes imtcp log "max msg size is 8096, truncating" and parse the rest
 * of the frame as a second, bogus message). RFC 5425 §4.3.1's "SHOULD accept 8192" is not what
 * the most common receiver does, so the sink stays under what it really accepts.
 */
function defaultMaxMessageBytes (protocol: SyslogProtocol, format: 'rfc5424' | 'rfc3164'): number {
  if (format === 'rfc3164') return 1024
  return protocol === 'udp' ? 2048 : 8096
}

function optionsError (sinkId: string, field: string, message: string, cause?: unknown): NetconsdError {
  return new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${sinkId}.${field}: ${message}`, { sink: sinkId, field }, { cause })
}

function readPem (sinkId: string, field: string, file: string, configDir: string): Buffer {
  const p = isAbsolute(file) ? file : resolve(configDir, file)
  try {
    return readFileSync(p)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw optionsError(sinkId, field, `cannot read ${p} (${code}); give a readable PEM file, relative paths are resolved from the config file's directory.`, err)
  }
}

export function resolveSyslogOptions (o: SyslogSinkOptions, sinkId: string, configDir: string): ResolvedSyslogOptions {
  if (typeof o.host !== 'string' || o.host === '') throw optionsError(sinkId, 'host', 'is required (the receiver\'s name or address).')
  const protocol = o.protocol ?? 'udp'
  const format = o.format ?? 'rfc5424'
  let framing: SyslogFraming | null = null
  if (protocol !== 'udp') {
    // RFC 5425 §4.3 makes octet counting mandatory on TLS; old RFC 3164 receivers on TCP
    // usually only know newline framing.
    framing = o.framing ?? (protocol === 'tcp' && format === 'rfc3164' ? 'lf' : 'octet-counting')
    if (protocol === 'tls' && framing === 'lf') throw optionsError(sinkId, 'framing', 'RFC 5425 requires octet counting over TLS; remove `framing` or set it to "octet-counting".')
  }
  const multiline = o.multiline ?? (framing === 'octet-counting' && format === 'rfc5424' ? 'keep' : 'escape')
  if (multiline === 'keep' && framing === 'lf') throw optionsError(sinkId, 'multiline', 'a newline inside a message ends it early with `framing: "lf"`; use `multiline: "escape"` or `framing: "octet-counting"`.')
  let tls: ResolvedTls | null = null
  if (protocol === 'tls') {
    const t = o.tls ?? {}
    tls = { rejectUnauthorized: t.rejectUnauthorized ?? true }
    if (t.ca !== undefined) tls.ca = readPem(sinkId, 'tls.ca', t.ca, configDir)
    if (t.cert !== undefined) tls.cert = readPem(sinkId, 'tls.cert', t.cert, configDir)
    if (t.key !== undefined) tls.key = readPem(sinkId, 'tls.key', t.key, configDir)
    if ((t.cert === undefined) !== (t.key === undefined)) throw optionsError(sinkId, 'tls', 'a client certificate needs both `cert` and `key`.')
    if (t.passphrase !== undefined) tls.passphrase = t.passphrase
    if (t.servername !== undefined) tls.servername = t.servername
  } else if (o.tls !== undefined) {
    throw optionsError(sinkId, 'tls', `TLS options are only used with \`protocol: "tls"\` (this sink uses "${protocol}").`)
  }
  const facility = o.facility === undefined || o.facility === 'record' ? null : FACILITY_NAMES.indexOf(o.facility)
  if (facility === -1) throw optionsError(sinkId, 'facility', `unknown facility; expected "record" or one of ${FACILITY_NAMES.join(', ')}.`)
  const legacySeverity = SEVERITY_NAMES.indexOf(o.legacySeverity ?? 'notice')
  if (legacySeverity === -1) throw optionsError(sinkId, 'legacySeverity', `unknown severity; expected one of ${SEVERITY_NAMES.join(', ')}.`)
  const maxMessageBytes = o.maxMessageBytes ?? defaultMaxMessageBytes(protocol, format)
  // 480 octets is what every IPv4 receiver MUST accept (RFC 5426 §3.2); a UDP payload cannot exceed 65507.
  if (!(maxMessageBytes >= 480 && maxMessageBytes <= (protocol === 'udp' ? 65507 : 16 * 1024 * 1024))) {
    throw optionsError(sinkId, 'maxMessageBytes', `must be between 480 and ${protocol === 'udp' ? 65507 : 16 * 1024 * 1024}.`)
  }
  return {
    host: o.host,
    port: o.port ?? (protocol === 'tls' ? 6514 : 514),
    protocol,
    format,
    framing,
    multiline,
    appName: o.appName ?? 'kernel',
    hostname: o.hostname ?? 'name',
    facility,
    legacySeverity,
    // 32473 is the documentation PEN (RFC 5612); sites with their own PEN should set it.
    enterpriseId: o.enterpriseId ?? 32473,
    includeDict: o.includeDict ?? true,
    includeLabels: o.includeLabels ?? true,
    utf8Bom: o.utf8Bom ?? false,
    maxMessageBytes,
    connectTimeoutMs: o.connectTimeoutMs ?? 5000,
    reconnectBackoffMs: o.reconnectBackoffMs ?? 500,
    reconnectBackoffMaxMs: o.reconnectBackoffMaxMs ?? 30_000,
    tls
  }
}
