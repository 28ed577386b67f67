// In-process cost of the worker pipeline per message: node dist/bench/pipeline.js [stage] [module | sinks]
//
// Batches shaped like the native path's (16 hosts, 100-byte extended messages, packed in one buffer
// with offsets) are made before timing, then handed to one stage:
//   ncrx      HostTable only: parse, sequence, decode, record (emit does nothing)
//   detector  HostTable + IncidentDetector
//   full      Pipeline.receiveBatch: admission, ncrx, detector, router, the output module (default:
//             the shipped counter module; pass bench/modules/linefile.js for the bench's line file,
//             written to NETCONSD_BENCH_DIR)
//   sinks     Pipeline.receiveBatch with ONE product sink each (default all of: file-text, file-json,
//             otlp-protobuf, otlp-gzip, syslog-tcp, syslog-udp; or a comma list), delivering to a
//             local peer (a temp file, or the counting servers of bench/peers.ts in a child process),
//             plus `none` (the same pipeline with no sink) as the baseline. Measured as process CPU
//             (all threads: the thread pool's writes and gzip count) per message, each round waiting
//             until the sink has delivered (or counted as dropped) every record routed to it; the
//             peer's CPU is not included. Prints each sink's total and what it adds to `none`.
// Prints the best, first-quartile and median µs per message over ROUNDS rounds (env, default 40;
// 12 for `sinks`): on a shared machine the best round is the closest to the code's own cost.
// `sinks` also prints the median wall-clock µs per message: a sink waiting on its peer shows there.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { Pipeline } from '../src/worker/pipeline.js'
import { HostTable } from '../src/ncrx/hosts.js'
import { IncidentDetector } from '../src/incidents/detector.js'
import { loadConfig } from '../src/config/load.js'
import { parseAddress, type PacketBatch } from '../src/ingest/batch.js'
import { startPeersProcess, type PeersProcess } from './peers.js'

const here = dirname(fileURLToPath(import.meta.url))
const stage = process.argv[2] ?? 'full'
const mod = (stage === 'sinks' ? undefined : process.argv[3]) ?? join(here, '..', 'src', 'modules', 'counter.js')
process.env.NETCONSD_BENCH_DIR ??= mkdtempSync(join(tmpdir(), 'ncpipe-'))
const N = 512
const HOSTS = 16
const ROUNDS = Number(process.env.ROUNDS ?? (stage === 'sinks' ? 12 : 40))
const PER_ROUND = 25
// LOSS=0.5: that share of each host's datagrams never arrives (seq numbers skipped), as when the
// kernel drops under a flood: what gaps cost the pipeline.
const LOSS = Number(process.env.LOSS ?? 0)
// BURST=200: each loss takes that many consecutive seqs of the host (a socket buffer that
// overflowed for a while loses runs, not single datagrams).
const BURST = Math.max(1, Number(process.env.BURST ?? 1))
let lossState = 12345
function lost (): boolean {
  if (LOSS <= 0) return false
  lossState = (Math.imul(lossState, 1103515245) + 12345) >>> 0
  return lossState / 2 ** 32 < LOSS
}

const seq = new Array<number>(HOSTS).fill(1)
const filler = '0123456789'.repeat(10)
const SINK_KINDS = ['file-text', 'file-json', 'otlp-protobuf', 'otlp-gzip', 'syslog-tcp', 'syslog-udp']
function makeBatch (): PacketBatch {
  const data = Buffer.alloc(N * 128)
  const addrs = new Uint8Array(N * 16)
  const ports = new Uint16Array(N)
  const offsets = new Uint32Array(N)
  const lengths = new Uint32Array(N)
  for (let i = 0; i < N; i++) {
    const h = i % HOSTS
    let s = seq[h]!++
    while (lost()) { seq[h]! += BURST - 1; s = seq[h]!++ }
    const head = `6,${s},${s * 1337},-;host ${h} msg ${s} `
    lengths[i] = data.write(head + filler.slice(0, 100 - head.length - 1) + '\n', i * 128, 'latin1')
    offsets[i] = i * 128
    parseAddress(`127.0.0.${h + 1}`, addrs, i * 16)
    ports[i] = 6665
  }
  return { count: N, data, offsets, lengths, addrs, ports, rxMs: Date.now() }
}
const rounds = Array.from({ length: ROUNDS }, () => Array.from({ length: PER_ROUND }, makeBatch))

const config = await loadConfig({
  source: { value: { version: 1, sinks: {}, rules: [], admission: { rateLimit: { enabled: false } } }, dir: process.cwd(), name: 'bench' },
  overrides: { modules: [mod] }
})
let receive: (b: PacketBatch) => void
let pipeline: Pipeline | undefined
if (stage === 'ncrx' || stage === 'detector') {
  const det = new IncidentDetector({ config: {}, thread: 0, emit: () => {} })
  let sink = 0
  const table = new HostTable({
    config: config.ncrx,
    thread: 0,
    resolveHost: (a) => ({ name: a, address: a, labels: {} }),
    emit: stage === 'ncrx' ? (r) => { sink += r.seq ?? 0 } : (r) => det.observe(r, 0)
  })
  const names = Array.from({ length: HOSTS }, (_, h) => `::ffff:127.0.0.${h + 1}`)
  receive = (b) => {
    const now = performance.now()
    const data = b.data as Buffer
    for (let i = 0; i < b.count; i++) table.receiveBuffer(names[i % HOSTS]!, 6665, data, now, b.rxMs, b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)
  }
  process.on('exit', () => { if (sink < 0) console.log(sink) })
} else if (stage === 'full') {
  pipeline = new Pipeline({ config, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }) })
  await pipeline.start()
  receive = (b) => pipeline!.receiveBatch(b)
} else if (stage === 'sinks') {
  await benchSinks(process.argv[3] ?? SINK_KINDS.join(','))
  process.exit(0)
} else {
  throw new Error(`unknown stage ${stage} (ncrx, detector, full, sinks)`)
}

const us: number[] = []
for (const batches of rounds) {
  const t0 = performance.now()
  // One event-loop turn per batch, as on the native path (the module's flush timers run).
  for (const b of batches) { receive(b); await new Promise(setImmediate) }
  us.push((performance.now() - t0) * 1000 / (N * batches.length))
}
us.sort((a, b) => a - b)
const f = (x: number): string => x.toFixed(3)
console.log(`${stage}: best ${f(us[0]!)} µs/msg, q1 ${f(us[Math.floor(us.length / 4)]!)}, median ${f(us[Math.floor(us.length / 2)]!)} (${ROUNDS} rounds of ${PER_ROUND * N} messages)`)
await pipeline?.shutdown()

function sinkConfig (kind: string, dir: string, peers: PeersProcess): Record<string, unknown> | null {
  // flushIntervalMs only bounds how long the last partial batch of a round waits (wall time, not
  // CPU); full batches leave at once either way.
  const net = { flushIntervalMs: 20 }
  switch (kind) {
    case 'none': return null
    case 'file-text': return { type: 'file', path: join(dir, 'text.{thread}.log'), format: 'text' }
    case 'file-json': return { type: 'file', path: join(dir, 'json.{thread}.log'), format: 'json' }
    case 'otlp-protobuf': return { type: 'otlp', url: `http://127.0.0.1:${peers.ports.http}/v1/logs`, encoding: 'protobuf', compression: 'none', ...net }
    case 'otlp-gzip': return { type: 'otlp', url: `http://127.0.0.1:${peers.ports.http}/v1/logs`, encoding: 'protobuf', compression: 'gzip', ...net }
    case 'syslog-tcp': return { type: 'syslog', host: '127.0.0.1', port: peers.ports.tcp, protocol: 'tcp', ...net }
    case 'syslog-udp': return { type: 'syslog', host: '127.0.0.1', port: peers.ports.udp, protocol: 'udp', ...net }
    default: throw new Error(`unknown sink ${kind} (${SINK_KINDS.join(', ')}, none)`)
  }
}

async function benchSinks (list: string): Promise<void> {
  const kinds = ['none', ...list.split(',').filter((k) => k !== '' && k !== 'none')]
  const peers = await startPeersProcess()
  const dir = mkdtempSync(join(tmpdir(), 'ncpipe-sinks-'))
  const results: Array<{ kind: string, best: number, q1: number, median: number, wall: number, dropped: number }> = []
  try {
    for (const kind of kinds) {
      const sc = sinkConfig(kind, dir, peers)
      const cfg = await loadConfig({
        source: { value: { version: 1, sinks: sc === null ? {} : { out: sc }, ...(sc === null ? { rules: [] } : {}), admission: { rateLimit: { enabled: false } } }, dir, name: 'bench' }
      })
      const p = new Pipeline({ config: cfg, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }) })
      await p.start()
      const settled = (): { done: boolean, dropped: number } => {
        const snap = p.snapshot()
        const st = snap.sinks.out
        if (st === undefined) return { done: true, dropped: 0 }
        const dropped = Object.values(st.dropped).reduce((a, b) => a + b, 0)
        return { done: st.sent + dropped >= snap.routed, dropped }
      }
      const us: number[] = []
      const wall: number[] = []
      for (const batches of rounds) {
        const c0 = process.cpuUsage()
        const w0 = performance.now()
        for (const b of batches) {
          p.receiveBatch(b)
          await new Promise(setImmediate)
          // Back-pressure, as a real sender's pacing would: a sink whose queue fills (default 10000
          // records) would drop, and dropped records cost nothing; keep it below half full.
          while ((p.snapshot().sinks.out?.queueDepth ?? 0) > 5000) await new Promise((resolve) => setTimeout(resolve, 5))
        }
        const end = Date.now() + 30_000
        while (!settled().done) {
          if (Date.now() > end) throw new Error(`${kind}: records still undelivered after 30 s`)
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
        const c = process.cpuUsage(c0)
        us.push((c.user + c.system) / (N * batches.length))
        wall.push((performance.now() - w0) * 1000 / (N * batches.length))
      }
      const dropped = settled().dropped
      await p.shutdown()
      us.sort((a, b) => a - b)
      wall.sort((a, b) => a - b)
      results.push({ kind, best: us[0]!, q1: us[Math.floor(us.length / 4)]!, median: us[Math.floor(us.length / 2)]!, wall: wall[Math.floor(wall.length / 2)]!, dropped })
      const r = results[results.length - 1]!
      const base = results[0]!
      console.log(`${kind.padEnd(14)} best ${r.best.toFixed(2)} µs CPU/msg, q1 ${r.q1.toFixed(2)}, median ${r.median.toFixed(2)}, wall median ${r.wall.toFixed(2)} µs/msg${kind === 'none' ? ' (pipeline, no sink)' : `  (+${(r.best - base.best).toFixed(2)} over none)`}${dropped > 0 ? `  DROPPED ${dropped}` : ''}`)
    }
    const counts = await peers.counts()
    console.log(`(${ROUNDS} rounds of ${PER_ROUND * N} messages per sink; peers received tcp ${counts.tcp}, http ${counts.http}, udp ${counts.udp})`)
  } finally {
    await peers.stop()
  }
}
