// In-process cost of the worker pipeline per message, no sockets: node dist/bench/pipeline.js [stage] [module]
//
// Batches shaped like the native path's (16 hosts, 100-byte extended messages, packed in one buffer
// with offsets) are made before timing, then handed to one stage:
//   ncrx      HostTable only: parse, sequence, decode, record (emit does nothing)
//   detector  HostTable + IncidentDetector
//   full      Pipeline.receiveBatch: admission, ncrx, detector, router, the output module (default:
//             the shipped counter module; pass bench/modules/linefile.js for the bench's line file,
//             written to NETCONSD_BENCH_DIR)
// Prints the best, first-quartile and median µs per message over ROUNDS rounds (env, default 40):
// on a shared machine the best round is the closest to the code's own cost.
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

const here = dirname(fileURLToPath(import.meta.url))
const stage = process.argv[2] ?? 'full'
const mod = process.argv[3] ?? join(here, '..', 'src', 'modules', 'counter.js')
process.env.NETCONSD_BENCH_DIR ??= mkdtempSync(join(tmpdir(), 'ncpipe-'))
const N = 512
const HOSTS = 16
const ROUNDS = Number(process.env.ROUNDS ?? 40)
const PER_ROUND = 25

const seq = new Array<number>(HOSTS).fill(1)
const filler = '0123456789'.repeat(10)
function makeBatch (): PacketBatch {
  const data = Buffer.alloc(N * 128)
  const addrs = new Uint8Array(N * 16)
  const ports = new Uint16Array(N)
  const offsets = new Uint32Array(N)
  const lengths = new Uint32Array(N)
  for (let i = 0; i < N; i++) {
    const h = i % HOSTS
    const s = seq[h]!++
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
} else {
  throw new Error(`unknown stage ${stage} (ncrx, detector, full)`)
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
