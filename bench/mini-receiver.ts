/**
 * A minimal receiver for the benchmark when the full daemon is not wanted (or not runnable):
 * the same receive paths as the daemon, with the bench's line-per-message consumer as the only
 * work. `native`: W worker threads, each with its own address-steered SO_REUSEPORT socket (the
 * daemon's native layout). `js`: one dgram socket on the main thread doing the work itself (the JS
 * path's best case: no hand-off to a worker).
 *
 *   node dist/bench/mini-receiver.js --path native|js --port P --rcvbuf BYTES --workers W --dir DIR
 *
 * Prints `ready <port>` on stdout once bound; SIGTERM flushes and exits.
 */
import { isMainThread, Worker, workerData, parentPort } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import dgram from 'node:dgram'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LineConsumer } from './consumer.js'
import { openNativeSocket } from '../src/ingest/native.js'

interface WData { port: number, rcvbuf: number, dir: string, thread: number, workers: number, batch: number }

if (isMainThread) {
  const { values: v } = parseArgs({
    options: {
      path: { type: 'string', default: 'native' },
      port: { type: 'string', default: '15140' },
      rcvbuf: { type: 'string', default: String(4 << 20) },
      workers: { type: 'string', default: '1' },
      batch: { type: 'string', default: '256' },
      dir: { type: 'string', default: '/tmp' }
    }
  })
  const port = Number(v.port)
  const rcvbuf = Number(v.rcvbuf)
  const dir = v.dir
  if (v.path === 'js') {
    const c = new LineConsumer(join(dir, 'lines.0'), join(dir, 'status.0.json'))
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false, recvBufferSize: rcvbuf })
    s.on('message', (msg, rinfo) => c.raw(msg, 0, msg.length, c.hostId(rinfo.address)))
    s.bind(port, '::', () => { console.log(`ready ${s.address().port} rcvbuf ${s.getRecvBufferSize()}`) })
    process.on('SIGTERM', () => { s.close(); void c.close().then(() => process.exit(0)) })
  } else {
    const workers = Number(v.workers)
    const ws: Worker[] = []
    let bound = port
    for (let t = 0; t < workers; t++) {
      const data: WData = { port: bound, rcvbuf, dir, thread: t, workers, batch: Number(v.batch) }
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: data })
      ws.push(w)
      // Bound in order, so worker t holds index t of the steered SO_REUSEPORT group.
      const m = await new Promise<{ port: number, rcvbuf: number }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
      bound = m.port
      if (t === workers - 1) console.log(`ready ${bound} rcvbuf ${m.rcvbuf}`)
    }
    process.on('SIGTERM', () => {
      let left = ws.length
      for (const w of ws) { w.postMessage('stop'); w.once('exit', () => { if (--left === 0) process.exit(0) }) }
    })
  }
} else {
  const d = workerData as WData
  const c = new LineConsumer(join(d.dir, `lines.${d.thread}`), join(d.dir, `status.${d.thread}.json`))
  const s = openNativeSocket({ address: '::', port: d.port, recvBufferBytes: d.rcvbuf, reusePort: true, batchSize: d.batch, maxDatagramBytes: 2048, steerGroupSize: d.workers },
    (b) => c.batch(b))
  parentPort!.postMessage({ port: s.boundPort, rcvbuf: s.recvBufferBytes })
  parentPort!.on('message', () => { s.drain(); s.close(); void c.close().then(() => process.exit(0)) })
}
