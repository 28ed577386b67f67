/**
 * Replays a recorded capture through the same stages the daemon runs (ncrx, then the incident
 * detector) on a virtual clock taken from the capture's timestamps, so idle timeouts behave as
 * they did live but a night's capture replays in seconds.
 *
 *   readCapture(file) ──► HostTable.receive(tMs) ──► IncidentDetector.observe ──► onRecord
 *          timers of both run whenever the capture clock passes their deadline
 */
import type { NetconsRecord } from '../types.js'
import type { NcrxConfig } from '../config/types.js'
import { readCapture, type CaptureReader } from '../capture/read.js'
import type { Progress } from '../capture/progress.js'
import { HostTable, defaultNcrxConfig } from '../ncrx/hosts.js'
import { IncidentDetector, type IncidentStats } from './detector.js'
import { type IncidentsConfig, resolveIncidentsConfig } from './config.js'

export interface ReplayOptions {
  incidents?: Partial<IncidentsConfig>
  ncrx?: Partial<NcrxConfig>
  /** Called for every log record ncrx delivers (before the detector sees it). */
  onLog?: (rec: NetconsRecord) => void
  /** Called for every incident and event. */
  onRecord: (rec: NetconsRecord) => void
  /** Told of every datagram read (progress on a terminal). */
  progress?: Progress
}

export interface ReplayResult {
  datagrams: number
  skipped: CaptureReader['skipped']
  stats: IncidentStats
}

/**
 * Replays one capture file. JSONL captures carry no wall-clock time, so `receivedAt` (and an
 * incident's `firstAt`/`lastAt`) are ms since the capture's first datagram; pcap keeps real time.
 * At the end the clock runs on past every idle timeout (but not into `silenceAfterPanicMs`), so
 * a report the capture ends in is closed as it would have been live.
 */
export async function replayCapture (file: string, opts: ReplayOptions): Promise<ReplayResult> {
  const cfg = resolveIncidentsConfig(opts.incidents)
  const detector = new IncidentDetector({ config: cfg, thread: 0, emit: opts.onRecord })
  const table = new HostTable({
    config: { ...defaultNcrxConfig, ...opts.ncrx },
    thread: 0,
    resolveHost: (address) => ({ name: address, address, labels: {} }),
    emit: (rec) => {
      opts.onLog?.(rec)
      detector.observe(rec, now)
    }
  })
  const reader = readCapture(file)
  let now = 0
  let datagrams = 0
  let epochOffset: number | null = null
  // Runs each stage's timers up to `t` in deadline order. A deadline that does not move after
  // its timers ran would loop forever: stop at it (and let the clock jump) instead.
  const drain = (stage: { nextDeadline: () => number, runTimers: (now: number) => void }, t: number): void => {
    let d = stage.nextDeadline()
    while (d <= t) {
      now = Math.max(now, d)
      stage.runTimers(now)
      const next = stage.nextDeadline()
      if (next <= d) break
      d = next
    }
  }
  const tick = (t: number): void => {
    drain(table, t)
    drain(detector, t)
    now = Math.max(now, t)
  }
  for await (const d of reader) {
    datagrams++
    opts.progress?.datagram()
    tick(d.tMs)
    epochOffset ??= d.epochMs === undefined ? 0 : d.epochMs - d.tMs
    table.receive(d.src, d.srcPort, d.payload, d.tMs, epochOffset + d.tMs)
  }
  const end = now + Math.min(cfg.idleTimeoutMs + cfg.maxReportMs, cfg.silenceAfterPanicMs - 1)
  table.flushAll(now)
  tick(end)
  detector.flushAll(end)
  return { datagrams, skipped: reader.skipped, stats: detector.stats() }
}
