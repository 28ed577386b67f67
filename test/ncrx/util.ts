/** Shared helpers for the ncrx tests (not a test file itself). */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { kernelFixturesDir } from '../helpers/paths.js'
import { HostTable, defaultNcrxConfig } from '../../src/ncrx/hosts.js'
import type { NcrxConfig } from '../../src/config/types.js'
import type { NetconsRecord } from '../../src/types.js'

export interface Datagram { i: number, tMs: number, payload: Buffer }

/** Every capture directory under test/fixtures/kernel. */
export function captureNames (): string[] {
  return readdirSync(kernelFixturesDir).filter((d) => statSync(join(kernelFixturesDir, d)).isDirectory()).sort()
}

export function loadCapture (name: string): Datagram[] {
  const text = readFileSync(join(kernelFixturesDir, name, 'payloads.jsonl'), 'utf8')
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const o = JSON.parse(l) as { i: number, t_ms: number, b64: string }
    return { i: o.i, tMs: o.t_ms, payload: Buffer.from(o.b64, 'base64') }
  })
}

export function readFixtureFile (name: string, file: string): string {
  return readFileSync(join(kernelFixturesDir, name, file), 'utf8')
}

export const SRC = '::ffff:10.0.0.1'

export interface Harness {
  table: HostTable
  recs: NetconsRecord[]
  drops: Array<[string, string, number]>
  /** Sends one datagram (string or bytes) from `src` at monotonic `t`. */
  send: (payload: string | Uint8Array, t: number, src?: string) => void
  /** Seqs of the records emitted so far. */
  seqs: () => Array<number | null>
}

export function harness (over: Partial<NcrxConfig> = {}): Harness {
  const recs: NetconsRecord[] = []
  const drops: Array<[string, string, number]> = []
  const table = new HostTable({
    config: { ...defaultNcrxConfig, ...over },
    thread: 3,
    resolveHost: (address) => ({ name: `host-${address}`, address, labels: { rack: 'r1' } }),
    emit: (r) => { recs.push(r) },
    onDrop: (reason, src, count) => { drops.push([reason, src, count]) }
  })
  return {
    table,
    recs,
    drops,
    send: (payload, t, src = SRC) => {
      table.receive(src, 6665, typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload, t, 1_700_000_000_000 + t)
    },
    seqs: () => recs.map((r) => r.seq)
  }
}

/** An unfragmented extended datagram. */
export function ext (seq: number, text: string, prio = 6, ts = 1000 + seq): string {
  return `${prio},${seq},${ts},-;${text}\n`
}

/**
 * Splits an extended record into ncfrag datagrams the way the kernel does, but at the given
 * body offsets (the kernel cuts at 1000-byte datagrams; tests cut anywhere).
 */
export function fragment (header: string, body: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...cuts.filter((c) => c > 0 && c < body.length).sort((a, b) => a - b), body.length]
  const out: Buffer[] = []
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k]!
    const b = points[k + 1]!
    if (a === b) continue
    out.push(Buffer.concat([Buffer.from(`${header},ncfrag=${a}/${body.length};`), body.subarray(a, b)]))
  }
  return out
}
