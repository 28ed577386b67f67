/**
 * `netconsd replay CAPTURE [--config FILE] [--send]`: what would this config do with that traffic?
 *
 *   readCapture ──► HostTable (ncrx, capture clock) ──► incident detector ──► router.trace ──► print
 *                                                                                     └─► sinks (--send)
 *
 * Time comes from the capture's timestamps (a virtual clock), so gap and OOS timeouts behave as
 * they did live while a night's capture replays in seconds. Without `--send` nothing leaves the
 * process. Reverse DNS is off during replay (no lookups from a dry run): hosts are named by the
 * inventory or their address.
 */
import { relative } from 'node:path'
import type { Logger } from 'pino'
import type { NetconsRecord } from '../types.js'
import type { Config } from '../config/types.js'
import type { Sink } from '../sinks/types.js'
import { loadConfig, formatConfigErrors } from '../config/load.js'
import type { CommandIO } from '../config/check.js'
import { createHostResolver } from '../config/hosts.js'
import { compileRouter, UNMATCHED } from '../router/router.js'
import { describeRecord } from '../config/cases.js'
import { HostTable } from '../ncrx/hosts.js'
import { IncidentDetector } from '../incidents/detector.js'
import { resolveIncidentsConfig } from '../incidents/config.js'
import { createSink } from '../sinks/registry.js'
import { createLogger } from '../log.js'
import { readCapture } from './read.js'
import { captureProgress } from './progress.js'

export interface ReplayCommandOptions {
  /** Config file; default: the built-in config. */
  config?: string
  /** Deliver to the config's sinks for real. */
  send?: boolean
  /** Only datagrams to this UDP port (pcap/pcapng). */
  port?: number
  /** Print only the summary, not one line per record. */
  summaryOnly?: boolean
  /** Logger for sinks under `--send` (default: pino to stderr at the config's log level). */
  logger?: Logger
}

export interface ReplaySummary {
  datagrams: number
  records: number
  incidents: number
  events: number
  perRule: Record<string, number>
  perSink: Record<string, number>
  unmatched: number
  dropped: number
  skipped: Record<string, number>
  malformed: Record<string, number>
  /** Datagrams ncrx discarded as copies of ones already held or delivered. */
  duplicates: number
}

async function openSinks (config: Config, logger: Logger): Promise<Map<string, Sink>> {
  const sinks = new Map<string, Sink>()
  for (const [id, sc] of Object.entries(config.sinks)) {
    sinks.set(id, await createSink(id, sc, { sinkId: id, thread: 0, workerCount: 1, logger: logger.child({ sink: id }), configDir: config.dir }))
  }
  return sinks
}

/** Replays one capture; returns the exit code (0 ok, 1 config/capture/sink error). */
export async function runReplay (capture: string, opts: ReplayCommandOptions, io: CommandIO): Promise<number> {
  let config: Config
  try {
    config = await loadConfig(opts.config === undefined ? { env: io.env } : { file: opts.config, env: io.env })
  } catch (err) {
    io.stderr.write(formatConfigErrors(err) + '\n')
    return 1
  }
  const send = opts.send === true
  // With --send a stdout sink may print records, so the trace goes to stderr to keep them apart.
  const out = send ? io.stderr : io.stdout
  const logger = opts.logger ?? createLogger({ level: config.log.level, format: 'json' })
  let sinks = new Map<string, Sink>()
  if (send) {
    try {
      sinks = await openSinks(config, logger)
    } catch (err) {
      io.stderr.write(`replay: cannot open sinks: ${(err as Error).message}\n`)
      for (const s of sinks.values()) await s.close().catch(() => {})
      return 1
    }
  }
  const resolver = createHostResolver({ ...config.hosts, reverseDns: { ...config.hosts.reverseDns, enabled: false } }, logger)
  const router = compileRouter(config)
  const summary: ReplaySummary = { datagrams: 0, records: 0, incidents: 0, events: 0, perRule: {}, perSink: {}, unmatched: 0, dropped: 0, skipped: {}, malformed: {}, duplicates: 0 }
  let now = 0

  const handle = (rec: NetconsRecord): void => {
    if (rec.kind === 'incident') summary.incidents++
    else if (rec.kind === 'event') summary.events++
    else summary.records++
    const t = router.trace(rec)
    for (const id of t.sinks) summary.perSink[id] = (summary.perSink[id] ?? 0) + 1
    if (opts.summaryOnly !== true) {
      const dest = t.dropped ? 'DROPPED' : t.unmatched ? `${UNMATCHED} → [${t.sinks.join(', ')}]` : `[${t.sinks.join(', ')}]`
      out.write(`${describeRecord(rec)}  rules=[${t.rules.join(', ')}] → ${dest}\n`)
    }
    if (send) for (const id of t.sinks) sinks.get(id)?.write(rec)
  }
  const incidentsCfg = resolveIncidentsConfig(config.incidents ?? {})
  const detector = new IncidentDetector({ config: incidentsCfg, thread: 0, emit: handle, logger })
  const table = new HostTable({
    config: config.ncrx,
    thread: 0,
    resolveHost: (a) => resolver.resolve(a),
    emit: (rec) => { handle(rec); detector.observe(rec, now) }
  })
  const tick = (t: number): void => {
    for (;;) {
      const d = Math.min(table.nextDeadline(), detector.nextDeadline())
      if (d > t) break
      now = d
      table.runTimers(now)
      detector.runTimers(now)
    }
    now = t
  }
  const reader = readCapture(capture, opts.port === undefined ? {} : { dstPort: opts.port })
  let epochOffset: number | null = null
  let code = 0
  const progress = captureProgress(io.stderr, capture)
  try {
    for await (const d of reader) {
      summary.datagrams++
      progress.datagram()
      tick(d.tMs)
      epochOffset ??= d.epochMs === undefined ? Date.now() - d.tMs : d.epochMs - d.tMs
      table.receive(d.src, d.srcPort, d.payload, d.tMs, epochOffset + d.tMs)
    }
  } catch (err) {
    io.stderr.write(`replay: ${(err as Error).message}\n`)
    code = 1
  }
  progress.done()
  // End of capture: release what ncrx holds, then let open incident reports time out.
  table.flushAll(now)
  tick(now + incidentsCfg.idleTimeoutMs + incidentsCfg.maxReportMs)
  detector.flushAll(now)
  resolver.close()
  if (send) {
    for (const [id, s] of sinks) {
      try { await s.close(10_000) } catch (err) { io.stderr.write(`replay: sink ${id} close failed: ${(err as Error).message}\n`); code = 1 }
    }
  }
  summary.duplicates = table.counters.duplicates
  summary.perRule = router.matchCounts()
  summary.unmatched = router.unmatchedCount()
  summary.dropped = router.droppedCount()
  summary.skipped = Object.fromEntries(Object.entries(reader.skipped).filter(([, n]) => n > 0))
  summary.malformed = Object.fromEntries(Object.entries(table.counters.malformed).filter(([, n]) => n > 0))
  out.write(formatSummary(summary, capture, config, send))
  return code
}

function formatSummary (s: ReplaySummary, capture: string, config: Config, send: boolean): string {
  const lines = [
    `-- replay of ${relative(process.cwd(), capture) || capture} with ${config.file}${send ? ' (sent)' : ' (dry run: nothing sent)'}`,
    `   ${s.datagrams} datagrams → ${s.records} records, ${s.incidents} incidents, ${s.events} events`,
    `   rules: ${Object.entries(s.perRule).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}`,
    `   sinks: ${Object.entries(s.perSink).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}`,
    `   ${UNMATCHED}=${s.unmatched} dropped=${s.dropped} duplicates=${s.duplicates}`
  ]
  if (Object.keys(s.skipped).length > 0) lines.push(`   capture packets skipped: ${Object.entries(s.skipped).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  if (Object.keys(s.malformed).length > 0) lines.push(`   malformed datagrams: ${Object.entries(s.malformed).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  return lines.join('\n') + '\n'
}
