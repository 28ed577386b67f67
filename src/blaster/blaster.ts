/**
 * Load generator, the counterpart of netconsd's netconsblaster. Without raw sockets it cannot
 * forge source addresses, so each simulated host is its own UDP socket bound to a distinct
 * loopback address (all of 127.0.0.0/8 is local on Linux without setup), sending one correct
 * stream: seq +1 per record, ts advancing.
 */
import dgram from 'node:dgram'
import { once } from 'node:events'
import { extendedRecord, fragmentRecord, legacyLine, oopsLines } from './messages.js'

export interface BlastOptions {
  /** Simulated hosts (distinct source addresses 127.1.x.y, or ports on ::1 with `ipv6`). */
  hosts: number
  /** Records per host (0 = until `durationMs`). */
  count: number
  durationMs?: number
  /** Total records per second over all hosts (0 = as fast as possible). */
  rate: number
  target: string
  port: number
  /** Approximate datagram size in bytes for ordinary records. */
  size: number
  legacy?: boolean
  /** Every Nth record of a host is a ~2500-byte record sent in `ncfrag` fragments (0 = never). */
  fragEvery?: number
  /** Every Nth record of a host starts an oops report (0 = never). */
  oopsEvery?: number
  /** Send from [::1] (distinct ports) instead of 127.1.x.y. */
  ipv6?: boolean
  /** First sequence number (default 1). */
  firstSeq?: number
  /** Records in flight before waiting for send callbacks. */
  window?: number
}

export interface BlastResult {
  datagrams: number
  records: number
  hosts: number
  ms: number
  ratePerSec: number
  /** Source address (and port) of each host and the last seq it sent. */
  perHost: Array<{ address: string, port: number, lastSeq: number, records: number }>
  sendErrors: number
}

function hostAddress (i: number): string {
  return `127.1.${(i >> 8) & 255}.${(i & 255) + 1}`
}

interface HostState {
  sock: dgram.Socket
  address: string
  port: number
  seq: number
  ts: number
  records: number
  pending: Buffer[]
}

export async function blast (o: BlastOptions): Promise<BlastResult> {
  const hosts: HostState[] = []
  for (let i = 0; i < o.hosts; i++) {
    const sock = dgram.createSocket(o.ipv6 === true ? 'udp6' : 'udp4')
    sock.bind({ address: o.ipv6 === true ? '::1' : hostAddress(i), port: 0 })
    await once(sock, 'listening')
    try { sock.setSendBufferSize(4 * 1024 * 1024) } catch { /* best effort */ }
    hosts.push({ sock, address: sock.address().address, port: sock.address().port, seq: o.firstSeq ?? 1, ts: 1_000_000, records: 0, pending: [] })
  }
  const filler = '0123456789'.repeat(Math.ceil(o.size / 10) + 1)
  const target = o.target
  let datagrams = 0
  let records = 0
  let errors = 0
  let inFlight = 0
  const window = o.window ?? 512
  const start = performance.now()
  const deadline = o.durationMs !== undefined ? start + o.durationMs : Infinity

  const nextRecord = (h: HostState): void => {
    const n = h.records++
    records++
    h.ts += 1337
    if (o.oopsEvery !== undefined && o.oopsEvery > 0 && n % o.oopsEvery === o.oopsEvery - 1) {
      for (const line of oopsLines('blaster', 1000 + (n % 30000))) {
        h.pending.push(o.legacy === true ? legacyLine(h.ts, line.text) : extendedRecord({ level: line.level, seq: h.seq++, tsUsec: h.ts, text: line.text }))
        h.ts += 10
      }
      return
    }
    if (o.fragEvery !== undefined && o.fragEvery > 0 && n % o.fragEvery === o.fragEvery - 1 && o.legacy !== true) {
      const text = `fragmented record ${h.seq} caf\u00e9 ` + filler.repeat(Math.ceil(2500 / filler.length)).slice(0, 2500)
      h.pending.push(...fragmentRecord(extendedRecord({ seq: h.seq++, tsUsec: h.ts, text, dict: [['SUBSYSTEM', 'blast'], ['DEVICE', '+blast:dev0']] })))
      return
    }
    if (o.legacy === true) {
      const head = `blaster host ${h.address}:${h.port} record ${n} `
      h.pending.push(legacyLine(h.ts, head + filler.slice(0, Math.max(0, o.size - head.length - 16))))
      return
    }
    const head = `${6},${h.seq},${h.ts},-;`
    const text = `blaster record ${h.seq} ` + filler
    h.pending.push(extendedRecord({ seq: h.seq++, tsUsec: h.ts, text: text.slice(0, Math.max(1, o.size - head.length - 1)) }))
  }

  const done = (): boolean => performance.now() >= deadline || (o.count > 0 && hosts.every((h) => h.records >= o.count && h.pending.length === 0))
  let turn = 0
  while (!done()) {
    // Pace: how many records should have been sent by now.
    const elapsed = performance.now() - start
    const allowed = o.rate > 0 ? Math.floor((elapsed / 1000) * o.rate) - records : Number.MAX_SAFE_INTEGER
    let sentThisTurn = 0
    for (let k = 0; k < hosts.length && sentThisTurn < Math.max(0, allowed) && inFlight < window; k++) {
      const h = hosts[(turn + k) % hosts.length]!
      if (h.pending.length === 0) {
        if (o.count > 0 && h.records >= o.count) continue
        nextRecord(h)
      }
      const pkts = h.pending.splice(0, h.pending.length)
      for (const p of pkts) {
        inFlight++
        datagrams++
        h.sock.send(p, o.port, target, (err) => { inFlight--; if (err !== null) errors++ })
      }
      sentThisTurn++
    }
    turn++
    if (inFlight >= window || sentThisTurn === 0) await new Promise((resolve) => setImmediate(resolve))
    if (o.rate > 0 && allowed <= 0) await new Promise((resolve) => setTimeout(resolve, 1))
  }
  while (inFlight > 0) await new Promise((resolve) => setImmediate(resolve))
  const ms = performance.now() - start
  await Promise.all(hosts.map(async (h) => await new Promise<void>((resolve) => h.sock.close(() => resolve()))))
  return {
    datagrams,
    records,
    hosts: hosts.length,
    ms,
    ratePerSec: Math.round(records / (ms / 1000)),
    perHost: hosts.map((h) => ({ address: h.address, port: h.port, lastSeq: h.seq - 1, records: h.records })),
    sendErrors: errors
  }
}
