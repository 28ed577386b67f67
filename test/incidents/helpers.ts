/**
 * Test helpers: turn console text into real netconsole datagrams (extended or legacy), push
 * them through the real ncrx HostTable and an IncidentDetector on a virtual clock, and collect
 * what comes out.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HostTable, defaultNcrxConfig } from '../../src/ncrx/hosts.js'
import { IncidentDetector } from '../../src/incidents/detector.js'
import { type IncidentsConfig, resolveIncidentsConfig } from '../../src/incidents/config.js'
import type { NetconsRecord } from '../../src/types.js'
import { fixturesDir } from '../helpers/paths.js'

export const incidentFixturesDir = join(fixturesDir, 'incidents')

export interface ConsoleLine {
  text: string
  tsUsec: number
}

/** Reads a `[    1.234567] text` console file (test/fixtures/incidents). */
export function readConsoleFixture (name: string): ConsoleLine[] {
  const out: ConsoleLine[] = []
  for (const l of readFileSync(join(incidentFixturesDir, name), 'utf8').split('\n')) {
    if (l === '') continue
    const m = /^\[\s*(\d+)\.(\d{6})\] ?(.*)$/.exec(l)
    if (m === null) throw new Error(`bad fixture line: ${l}`)
    out.push({ text: m[3]!, tsUsec: Number(m[1]) * 1e6 + Number(m[2]) })
  }
  return out
}

function escapeExtended (s: string): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    out += b < 0x20 || b >= 0x7f || b === 0x5c ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b)
  }
  return out
}

export function legacyPrefix (tsUsec: number): string {
  const sec = Math.floor(tsUsec / 1e6)
  const us = String(tsUsec % 1e6).padStart(6, '0')
  return `[${String(sec).padStart(5, ' ')}.${us}] `
}

/** One datagram per line, the way the kernel sends them. */
export function toDatagrams (lines: readonly ConsoleLine[], format: 'extended' | 'legacy', firstSeq = 100, level = 4): Buffer[] {
  return lines.map((l, i) => format === 'extended'
    ? Buffer.from(`${level},${firstSeq + i},${l.tsUsec},-;${escapeExtended(l.text)}\n`)
    : Buffer.from(`${legacyPrefix(l.tsUsec)}${l.text}\n`))
}

export interface Run {
  records: NetconsRecord[]
  incidents: NetconsRecord[]
  events: NetconsRecord[]
  detector: IncidentDetector
  table: HostTable
  /** Sends more datagrams at virtual time `t` (ms) from `src`. */
  send: (payloads: readonly Buffer[], t: number, src?: string) => void
  /** Advances the virtual clock to `t`, running both stages' timers on the way. */
  advance: (t: number) => void
  now: () => number
}

export function newRun (config: Partial<IncidentsConfig> = {}): Run {
  const records: NetconsRecord[] = []
  const incidents: NetconsRecord[] = []
  const events: NetconsRecord[] = []
  let now = 0
  const detector = new IncidentDetector({
    config: resolveIncidentsConfig(config),
    thread: 0,
    emit: (rec) => {
      if (rec.kind === 'incident') incidents.push(rec)
      else events.push(rec)
    }
  })
  const table = new HostTable({
    config: { ...defaultNcrxConfig },
    thread: 0,
    resolveHost: (address) => ({ name: `host-${address.split('.').pop() ?? address}`, address, labels: {} }),
    emit: (rec) => { records.push(rec); detector.observe(rec, now) }
  })
  const advance = (t: number): void => {
    for (let guard = 0; ; guard++) {
      const d = Math.min(table.nextDeadline(), detector.nextDeadline())
      if (d > t) break
      if (guard > 100_000) throw new Error(`timers stuck at ${d}`)
      now = Math.max(now, d)
      table.runTimers(now)
      detector.runTimers(now)
    }
    now = Math.max(now, t)
  }
  const send = (payloads: readonly Buffer[], t: number, src = '::ffff:10.0.0.1'): void => {
    advance(t)
    for (const p of payloads) table.receive(src, 6665, p, now, 1_700_000_000_000 + now)
  }
  return { records, incidents, events, detector, table, send, advance, now: () => now }
}

/** Sends `lines` from one host, 1 ms apart, then lets every timer run out (not the panic silence). */
export function runLines (lines: readonly ConsoleLine[], format: 'extended' | 'legacy', config: Partial<IncidentsConfig> = {}): Run {
  const run = newRun(config)
  const ds = toDatagrams(lines, format)
  ds.forEach((d, i) => run.send([d], i))
  run.advance(ds.length + 60_000)
  return run
}
