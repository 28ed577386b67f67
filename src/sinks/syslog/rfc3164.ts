/**
 * RFC 3164 ("BSD syslog") formatter for receivers that predate RFC 5424 (pure; no I/O).
 *
 *   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG
 *
 * RFC 3164 §4.1.2: TIMESTAMP is local time without a year or zone, the day space-padded
 * (`Jan  5`); it is written in the daemon's local time zone (set `TZ=UTC` to send UTC).
 * TAG is alphanumeric, at most 32 characters (§4.1.3). There is no structured data, so seq and
 * flags are not sent; control characters are always escaped (`#012`) because these receivers
 * end a message at a newline. The whole message is limited to `maxMessageBytes` (RFC 3164 §4.1:
 * 1024 octets).
 */
import type { NetconsRecord } from '../../types.js'
import { escapeControls, headerField, prival, stripTrailingNewlines, utf8Prefix } from './fields.js'
import { hostnameOf, type Encoded, type Rfc5424Options } from './rfc5424.js'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

export type Rfc3164Options = Pick<Rfc5424Options, 'appName' | 'hostname' | 'facility' | 'legacySeverity' | 'maxMessageBytes'>

export function timestamp3164 (ms: number): string {
  // Outside the Date range (±8.64e15 ms) or not a number: the current time, as RFC 5424's
  // formatter falls back to NILVALUE (a BSD timestamp has none).
  let d = new Date(Number.isFinite(ms) ? ms : Date.now())
  if (Number.isNaN(d.getTime())) d = new Date(Date.now())
  const p2 = (n: number): string => String(n).padStart(2, '0')
  return `${MONTHS[d.getMonth()]!} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`
}

/** TAG (§4.1.3): alphanumeric characters, at most 32; anything else becomes `_`. */
export function tag (appName: string): string {
  const t = appName.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32)
  return t === '' ? 'kernel' : t
}

export function formatRfc3164 (rec: NetconsRecord, opts: Rfc3164Options): Encoded {
  const severity = rec.level ?? opts.legacySeverity
  const head = Buffer.from(`<${prival(opts.facility ?? rec.facility, severity)}>${timestamp3164(rec.receivedAt)} ` +
    `${headerField(hostnameOf(rec, opts.hostname), 255)} ${tag(opts.appName)}: `)
  const full = Buffer.from(escapeControls(stripTrailingNewlines(rec.text)))
  const msg = utf8Prefix(full, Math.max(0, opts.maxMessageBytes - head.length))
  return { bytes: Buffer.concat([head, msg]), truncated: msg.length < full.length, sdElementsDropped: 0 }
}
