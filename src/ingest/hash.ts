/**
 * Source address → worker index.
 *
 * The same function as C netconsd's listener (Linux kernel jhash2 over the 16 address bytes read as
 * four host-endian (little-endian here) 32-bit words, seed 0xfaceb00c, modulo the worker count), so a
 * fleet moving from netconsd keeps the same host → thread assignment. The port is ignored: one host is
 * one ncrx stream.
 */

const JHASH_INITVAL = 0xdeadbeef
const LISTENER_SEED = 0xfaceb00c

function rol32 (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** Linux `jhash2(k, length, initval)` for exactly four 32-bit words. */
function jhash2x4 (w0: number, w1: number, w2: number, w3: number, initval: number): number {
  let a = (JHASH_INITVAL + (4 << 2) + initval) >>> 0
  let b = a
  let c = a
  // __jhash_mix on the first three words (length 4 > 3).
  a = (a + w0) >>> 0; b = (b + w1) >>> 0; c = (c + w2) >>> 0
  a = (a - c) >>> 0; a = (a ^ rol32(c, 4)) >>> 0; c = (c + b) >>> 0
  b = (b - a) >>> 0; b = (b ^ rol32(a, 6)) >>> 0; a = (a + c) >>> 0
  c = (c - b) >>> 0; c = (c ^ rol32(b, 8)) >>> 0; b = (b + a) >>> 0
  a = (a - c) >>> 0; a = (a ^ rol32(c, 16)) >>> 0; c = (c + b) >>> 0
  b = (b - a) >>> 0; b = (b ^ rol32(a, 19)) >>> 0; a = (a + c) >>> 0
  c = (c - b) >>> 0; c = (c ^ rol32(b, 4)) >>> 0; b = (b + a) >>> 0
  // Last word, then __jhash_final.
  a = (a + w3) >>> 0
  c = (c ^ b) >>> 0; c = (c - rol32(b, 14)) >>> 0
  a = (a ^ c) >>> 0; a = (a - rol32(c, 11)) >>> 0
  b = (b ^ a) >>> 0; b = (b - rol32(a, 25)) >>> 0
  c = (c ^ b) >>> 0; c = (c - rol32(b, 16)) >>> 0
  a = (a ^ c) >>> 0; a = (a - rol32(c, 4)) >>> 0
  b = (b ^ a) >>> 0; b = (b - rol32(a, 14)) >>> 0
  c = (c ^ b) >>> 0; c = (c - rol32(b, 24)) >>> 0
  return c
}

function word (b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0
}

/** netconsd's listener hash of a 16-byte address. */
export function addressHash (addr: Uint8Array, off = 0): number {
  return jhash2x4(word(addr, off), word(addr, off + 4), word(addr, off + 8), word(addr, off + 12), LISTENER_SEED)
}

export function workerFor (addr: Uint8Array, off: number, workers: number): number {
  return addressHash(addr, off) % workers
}
