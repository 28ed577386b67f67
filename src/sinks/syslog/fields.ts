/**
 * Pieces shared by the RFC 5424 and RFC 3164 formatters: PRI, header-field sanitising, control
 * character escaping and cutting UTF-8 at a character boundary. Pure functions, no I/O.
 */

/** RFC 5424 §6.2.1 facility names (Table 1), in code order. */
export const FACILITY_NAMES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv',
  'ftp', 'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3',
  'local4', 'local5', 'local6', 'local7'
] as const
export type FacilityName = typeof FACILITY_NAMES[number]

/** RFC 5424 §6.2.1 severity names (Table 2), in code order (the kernel's KERN_* levels). */
export const SEVERITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const
export type SeverityName = typeof SEVERITY_NAMES[number]

/**
 * PRI = facility * 8 + severity (RFC 5424 §6.2.1). PRIVAL must stay within 0..191, so a facility
 * outside 0..23 (a /dev/kmsg writer can put anything in the prefix) is sent as `user` (1), the
 * facility the kernel itself gives to userspace writes.
 */
export function prival (facility: number, severity: number): number {
  const f = Number.isInteger(facility) && facility >= 0 && facility <= 23 ? facility : 1
  const s = Number.isInteger(severity) && severity >= 0 && severity <= 7 ? severity : 5
  return f * 8 + s
}

/**
 * A header field: PRINTUSASCII (%d33-126, RFC 5424 §6) only, at most `max` octets, NILVALUE `-`
 * when empty (§6.2: an empty field MUST be `-`; rsyslog/rsyslog#4043 shows what else happens).
 * Anything outside the range (spaces, controls, non-ASCII) becomes `_` so field boundaries hold.
 */
export function headerField (value: string | null | undefined, max: number): string {
  if (value === null || value === undefined || value === '') return '-'
  let out = ''
  for (const ch of value) {
    if (out.length >= max) break
    const c = ch.codePointAt(0)!
    out += c >= 33 && c <= 126 ? ch : '_'
  }
  return out
}

/** How an address is shown to people: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4. */
export function displayAddress (address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  return m !== null ? m[1]! : address
}

/**
 * Replaces C0 control characters (except TAB) and DEL by `#` and three octal digits, rsyslog's
 * own convention (`escapeControlCharactersOnReceive`: LF is `#012`). Used where a raw newline
 * would end the message early: UDP and RFC 3164 receivers, LF-framed TCP.
 */
export function escapeControls (s: string): string {
  // Fast path: most kernel lines have no control characters.
  if (!/[\x00-\x08\x0a-\x1f\x7f]/.test(s)) return s
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (c) => '#' + c.charCodeAt(0).toString(8).padStart(3, '0'))
}

/** Kernel lines end in `\n` (legacy datagrams always do); the newline is framing, not text. */
export function stripTrailingNewlines (s: string): string {
  let end = s.length
  while (end > 0 && (s.charCodeAt(end - 1) === 10 || s.charCodeAt(end - 1) === 13)) end--
  return end === s.length ? s : s.slice(0, end)
}

/**
 * The longest prefix of `buf` that is at most `max` bytes and does not end inside a UTF-8
 * sequence (RFC 5424 §6.1: a truncating relay must not produce invalid UTF-8).
 */
export function utf8Prefix (buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf
  let end = Math.max(0, max)
  // Back off over continuation bytes (10xxxxxx) to the lead byte, then drop the lead byte too:
  // the sequence it starts did not fit.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--
  return buf.subarray(0, end)
}
