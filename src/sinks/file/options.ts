/**
 * `type: "file"` options (schema: `schemas/sinks/file.schema.json`) and the path template.
 *
 * Placeholders in `path`: `{host}` (inventory/reverse-DNS name, else the address), `{address}`
 * (sender address, IPv4-mapped shown as IPv4), `{thread}` (worker index), `{sink}` (sink id).
 * Values are sanitised for use as one path component: a reverse-DNS name is controlled by
 * whoever controls the PTR record, so it must never be able to climb out of the directory.
 */
import { dirname, isAbsolute, resolve } from 'node:path'
import { NetconsdError } from '../../errors.js'
import type { NetconsRecord } from '../../types.js'
import { displayAddress } from '../syslog/fields.js'
import type { LineFormat } from './format.js'

export interface FileSinkOptions {
  path: string
  format?: LineFormat
  maxFileBytes?: number
  rotateIntervalMs?: number
  compress?: boolean
  maxFiles?: number
  maxAgeDays?: number
  fileMode?: string
  dirMode?: string
  maxOpenFiles?: number
  maxQueueBytes?: number
  retryBackoffMs?: number
  retryBackoffMaxMs?: number
  shutdownDeadlineMs?: number
}

export interface ResolvedFileOptions {
  /** Absolute path template. */
  path: string
  format: LineFormat
  maxFileBytes: number
  rotateIntervalMs: number
  compress: boolean
  maxFiles: number
  maxAgeDays: number
  fileMode: number
  dirMode: number
  maxOpenFiles: number
  maxQueueBytes: number
  retryBackoffMs: number
  retryBackoffMaxMs: number
  shutdownDeadlineMs: number
  /** The template names no per-host or per-worker part, and several workers write it. */
  sharedFile: boolean
}

const PLACEHOLDER = /\{(host|address|thread|sink)\}/g
const ANY_BRACE = /\{[^}]*\}/g

function optionsError (sinkId: string, field: string, message: string): NetconsdError {
  return new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${sinkId}.${field}: ${message}`, { sink: sinkId, field })
}

function parseMode (sinkId: string, field: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (!/^0?[0-7]{3}$/.test(v)) throw optionsError(sinkId, field, `"${v}" is not an octal mode like "0640".`)
  return parseInt(v, 8)
}

export function resolveFileOptions (o: FileSinkOptions, sinkId: string, configDir: string, workerCount: number): ResolvedFileOptions {
  if (typeof o.path !== 'string' || o.path === '') throw optionsError(sinkId, 'path', 'is required, e.g. "/var/log/netcons/{host}.log".')
  for (const m of o.path.matchAll(ANY_BRACE)) {
    if (!/^\{(host|address|thread|sink)\}$/.test(m[0])) {
      throw optionsError(sinkId, 'path', `unknown placeholder ${m[0]}; use {host}, {address}, {thread} or {sink}.`)
    }
  }
  const path = isAbsolute(o.path) ? o.path : resolve(configDir, o.path)
  const perWriter = /\{(host|address|thread)\}/.test(path)
  const sharedFile = !perWriter && workerCount > 1
  const maxFileBytes = o.maxFileBytes ?? 0
  const rotateIntervalMs = o.rotateIntervalMs ?? 0
  if (sharedFile && (maxFileBytes > 0 || rotateIntervalMs > 0)) {
    // Several workers append to this one file; if each rotated it on its own they would rename
    // it under each other and compress a file another worker is still writing.
    throw optionsError(sinkId, 'path', `"${o.path}" is one file written by ${workerCount} workers, so netconsd cannot rotate it safely. ` +
      'Put {host}, {address} or {thread} in the path (one writer per file), or drop maxFileBytes/rotateIntervalMs and rotate with logrotate + SIGHUP.')
  }
  return {
    path,
    format: o.format ?? 'text',
    maxFileBytes,
    rotateIntervalMs,
    compress: o.compress ?? true,
    maxFiles: o.maxFiles ?? 10,
    maxAgeDays: o.maxAgeDays ?? 0,
    // Kernel logs can carry addresses, command lines and secrets from crash dumps: not world-readable.
    fileMode: parseMode(sinkId, 'fileMode', o.fileMode, 0o640),
    dirMode: parseMode(sinkId, 'dirMode', o.dirMode, 0o750),
    maxOpenFiles: o.maxOpenFiles ?? 256,
    // For the sink as a whole, as every sink's maxQueueBytes: each worker holds its share.
    maxQueueBytes: Math.max(1024, Math.floor((o.maxQueueBytes ?? 64 * 1024 * 1024) / Math.max(1, workerCount))),
    retryBackoffMs: o.retryBackoffMs ?? 1000,
    retryBackoffMaxMs: o.retryBackoffMaxMs ?? 60_000,
    shutdownDeadlineMs: o.shutdownDeadlineMs ?? 5000,
    sharedFile
  }
}

/** One path component from an untrusted name: [A-Za-z0-9._:-] kept, the rest `_`, no leading dot, at most 200 characters. */
export function safeComponent (s: string): string {
  let out = s.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 200)
  if (out.startsWith('.')) out = '_' + out.slice(1)
  return out === '' ? 'unknown' : out
}

/** Expands the template for one record. */
export function expandPath (template: string, rec: NetconsRecord, thread: number, sinkId: string): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    switch (name) {
      case 'host': return safeComponent(displayAddress(rec.host.name === '' ? rec.host.address : rec.host.name))
      case 'address': return safeComponent(displayAddress(rec.host.address))
      case 'thread': return String(thread)
      default: return safeComponent(sinkId)
    }
  })
}

/** The longest directory of the template without placeholders: what `health()` checks. */
export function staticDir (template: string): string {
  const i = template.search(/\{(host|address|thread|sink)\}/)
  return dirname(i < 0 ? template : template.slice(0, i) + 'x')
}
