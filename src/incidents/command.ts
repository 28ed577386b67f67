/**
 * `netconsd incidents FILE...`: the incidents in recorded captures (the JSONL format of the
 * kernel fixtures, pcap, pcapng), one JSON object per line on stdout, for jq and grep after a
 * bad night. Diagnostics (unreadable files, per-file counts) go to stderr.
 *
 * Exit status: 0 when every file was read (with or without incidents), 1 when a file could not
 * be read (the others are still processed), 2 on a usage error.
 */
import { captureProgress } from '../capture/progress.js'
import type { NetconsRecord } from '../types.js'
import type { IncidentsConfig } from './config.js'
import { replayCapture } from './replay.js'

export interface CommandIO {
  stdout: { write: (s: string) => unknown }
  stderr: { write: (s: string) => unknown }
}

export interface IncidentsCommandOptions {
  /** Detector settings (e.g. from the daemon's config file). */
  config?: Partial<IncidentsConfig>
  /** Also print lifecycle events (`kind: "event"` lines). */
  events?: boolean
}

/** The printed form of an incident: flat, stable keys, the full text last. */
function incidentLine (rec: NetconsRecord, file: string): Record<string, unknown> {
  const i = rec.incident!
  return {
    file,
    type: i.type,
    title: i.title,
    summary: i.summary,
    host: rec.host.name,
    src: rec.src,
    function: i.function,
    frames: i.frames,
    signature: i.signature,
    signatureId: i.signatureId,
    cpu: i.cpu,
    pid: i.pid,
    comm: i.comm,
    taint: i.taint,
    release: i.release,
    hardware: i.hardware,
    modules: i.modules,
    message: i.message,
    firstAt: i.firstAt,
    lastAt: i.lastAt,
    firstTsUsec: i.firstTsUsec,
    lastTsUsec: i.lastTsUsec,
    firstSeq: i.firstSeq,
    lastSeq: i.lastSeq,
    lines: i.lines,
    droppedLines: i.droppedLines,
    partial: i.partial,
    endReason: i.endReason,
    lost: i.lost,
    trigger: i.trigger,
    details: i.details,
    text: i.text
  }
}

export async function runIncidents (files: string[], io: CommandIO, opts: IncidentsCommandOptions = {}): Promise<number> {
  if (files.length === 0) {
    io.stderr.write('usage: netconsd incidents FILE...  (JSONL captures, pcap, pcapng)\n')
    return 2
  }
  let status = 0
  for (const file of files) {
    let incidents = 0
    try {
      const progress = captureProgress(io.stderr, file)
      const res = await replayCapture(file, {
        progress,
        ...(opts.config !== undefined ? { incidents: opts.config } : {}),
        onRecord: (rec) => {
          if (rec.kind === 'incident') {
            incidents++
            io.stdout.write(JSON.stringify(incidentLine(rec, file)) + '\n')
          } else if (opts.events === true && rec.kind === 'event') {
            io.stdout.write(JSON.stringify({ file, kind: 'event', host: rec.host.name, src: rec.src, receivedAt: rec.receivedAt, ...rec.event }) + '\n')
          }
        }
      })
      progress.done()
      const skipped = Object.entries(res.skipped).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ')
      io.stderr.write(`${file}: ${res.datagrams} datagrams, ${incidents} incidents${skipped === '' ? '' : `, skipped ${skipped}`}\n`)
    } catch (err) {
      status = 1
      const code = (err as { code?: unknown }).code
      io.stderr.write(`${file}: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}\n`)
    }
  }
  return status
}
