/**
 * From records to console lines.
 *
 * Extended records carry one printk record each; its text may hold several lines (an embedded
 * newline arrives as `\x0a` and ncrx has unescaped it). Legacy datagrams are the serial console
 * text: `[    5.123456] text\n`, the prefix repeated on every line of a multi-line record, and
 * text longer than 1000 bytes (netconsole's MAX_PRINT_CHUNK) cut into 1000-byte datagrams
 * whose continuation has no prefix at all (test/fixtures/kernel/README.md).
 */

/** netconsole's MAX_PRINT_CHUNK: a legacy datagram this long that does not end a line was cut. */
export const LEGACY_CHUNK_BYTES = 1000

/**
 * `[    5.123456] `, optionally `<N>` before it (console_msg_format=syslog) and a caller id after it
 * (`[  T123]` / `[    C3]`, CONFIG_PRINTK_CALLER). The kernel writes exactly one space after the
 * last bracket; what follows (including further spaces, e.g. ` <TASK>`) is the text.
 */
const LEGACY_PREFIX = /^(?:<\d{1,4}>)?\[\s*(\d+)\.(\d{6})\](?:\[\s*([TC]\d+)\])? ?/

export interface ConsoleLine {
  text: string
  /** Kernel time from the legacy prefix, µs; null when the line had none. */
  tsUsec: number | null
  /** Caller id from the legacy prefix (`T123`, `C3`), or null. */
  caller: string | null
}

/** Strips a legacy console prefix. Lines without one (continuations) come back unchanged. */
export function stripLegacyPrefix (line: string): ConsoleLine {
  if (line.charCodeAt(0) !== 0x5b /* [ */ && line.charCodeAt(0) !== 0x3c /* < */) return { text: line, tsUsec: null, caller: null }
  const m = LEGACY_PREFIX.exec(line)
  if (m === null) return { text: line, tsUsec: null, caller: null }
  return {
    text: line.slice(m[0].length),
    tsUsec: Number(m[1]) * 1_000_000 + Number(m[2]),
    caller: m[3] ?? null
  }
}

/**
 * Splits `s` at `\n` (and drops a `\r` before it: some consoles add it). A trailing newline
 * produces no empty last line.
 */
export function splitLines (s: string): string[] {
  if (!s.includes('\n')) return s.endsWith('\r') ? [s.slice(0, -1)] : [s]
  const out = s.split('\n')
  if (out[out.length - 1] === '') out.pop()
  for (let i = 0; i < out.length; i++) {
    const l = out[i]!
    if (l.endsWith('\r')) out[i] = l.slice(0, -1)
  }
  return out
}
