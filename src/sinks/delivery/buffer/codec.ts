/**
 * NetconsRecord <-> bytes for the disk buffer. JSON (with `raw` as base64) rather than a packed
 * binary layout: records are small, a buffer is written once and read once, and JSON survives
 * new optional fields between daemon versions (a record written by the old version is read by
 * the new one after an upgrade restart). `v` is the format version.
 */
import type { NetconsRecord } from '../../../types.js'

const VERSION = 1

export function encodeRecord (r: NetconsRecord): Buffer {
  return Buffer.from(JSON.stringify({ v: VERSION, ...r, raw: r.raw.toString('base64') }))
}

/** Throws on bytes that are not an encoded record (the caller counts it as corrupt). */
export function decodeRecord (b: Uint8Array): NetconsRecord {
  const o = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8')) as Record<string, unknown>
  if (o.v !== VERSION || typeof o.raw !== 'string' || typeof o.text !== 'string') {
    throw new Error(`Not a disk-buffer record of version ${VERSION}.`)
  }
  delete o.v
  o.raw = Buffer.from(o.raw, 'base64')
  return o as unknown as NetconsRecord
}
