/**
 * Just enough of a datagram to rate-limit it before ncrx sees it: the syslog level of an
 * extended-format header, and whether the payload is part of a kernel panic.
 *
 * The header is read with ncrx's own parser (one grammar in the code base, see
 * `src/ncrx/parse.ts`); it only looks at the bytes before the first `;`. A legacy (plain
 * console text) or malformed datagram has no level: null.
 */
import { Kind, ParsedHeader, parseDatagram } from '../ncrx/parse.js'

// Header-only parse: the fragment total is not checked against a real limit here, ncrx does that.
const MAX_MESSAGE_BYTES = 1 << 30
const scratch = new ParsedHeader()

/** Syslog level (0..7) of an extended-format datagram; null for legacy text or anything malformed. */
export function peekLevel (b: Uint8Array, off = 0, len = b.length - off): number | null {
  const view = off === 0 ? b : b.subarray(off, off + len)
  scratch.reset()
  return parseDatagram(view, MAX_MESSAGE_BYTES, scratch, len) === Kind.Extended ? scratch.level : null
}

const PANIC = Buffer.from('Kernel panic - not syncing')

/** True if the payload contains the kernel's panic banner (`panic()` in kernel/panic.c). */
export function containsPanic (b: Uint8Array, off = 0, len = b.length - off): boolean {
  const view = Buffer.from(b.buffer, b.byteOffset + off, len)
  return view.indexOf(PANIC) >= 0
}
