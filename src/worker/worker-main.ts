/**
 * Worker thread entry point.
 *
 *   main thread (JS receive path)            this thread
 *   ─────────────────────────────            ───────────────────────────────────────────
 *   dgram ─► hash(src) ─► batch ─postMessage─► Pipeline.receiveBatch ─► ncrx ─► router ─► sinks
 *                                   ▲                                    │
 *   native receive path:  SO_REUSEPORT socket + recvmmsg in THIS thread ─┘
 *
 * The worker acknowledges every batch with its byte count, which is how the main thread bounds the
 * memory queued for a slow worker (beyond the bound it drops and counts, reason `worker_queue_full`).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger } from '../log.js'
import { serializeError } from '../errors.js'
import { Pipeline } from './pipeline.js'
import { setPagerChannel } from '../incidents/pager-sink.js'
import type { FromWorker, ToWorker, WorkerData, HostStat } from './protocol.js'

const data = workerData as WorkerData
const port = parentPort!
const log = createLogger({ level: data.logLevel, format: 'json' }).child({ thread: data.thread })
const post = (m: FromWorker): void => port.postMessage(m)

const pipeline = new Pipeline({
  config: data.config,
  thread: data.thread,
  workerCount: data.workerCount,
  logger: log,
  onIncident: (record) => { if (record.kind === 'incident') post({ type: 'incident', record }) }
})

// Paging state is fleet-wide, so pager sinks hand their records to the main thread.
setPagerChannel((sinkId, record) => post({ type: 'page', sinkId, record }))

let native: import('../ingest/native.js').NativeSocket | undefined
// What this worker's own socket read (native path): the main thread has no socket to count it on.
const nativeIngest = { datagrams: 0, bytes: 0 }
let statsTimer: NodeJS.Timeout | undefined

function hosts (): HostStat[] {
  return [...pipeline.hostStats()]
}

/**
 * Back-pressure (native path): above HIGH_WATER of a delivering sink's queue the socket is not
 * read until every sink is below LOW_WATER. Meanwhile datagrams wait in the kernel's receive
 * buffer, then the kernel drops and counts them (`netconsd_socket_drops_total`): parsing records
 * only to drop them from a full queue is what made the daemon deliver less under a flood.
 */
const HIGH_WATER = 0.75
const LOW_WATER = 0.5
let paused = false
let pauses = 0

function pauseReading (): void {
  if (paused || native === undefined) return
  paused = true
  lingering = false
  pauses++
  native.pause()
  const check = (): void => {
    if (native === undefined) return
    if (pipeline.pressure() < LOW_WATER) {
      paused = false
      native.resume()
    } else {
      setTimeout(check, 2)
    }
  }
  setTimeout(check, 2)
  if (pauses === 1 || pauses % 1000 === 0) {
    log.warn({ pauses }, 'Sinks are pushing back: reading paused until they catch up (the kernel drops and counts the excess).')
  }
}

/**
 * Receive coalescing (native path): a wakeup that found fewer than LINGER_BELOW datagrams leaves
 * the socket alone for LINGER_MS, so the next read finds a batch instead of a handful. At moderate
 * rates a sender's bursts woke the worker every ~16 datagrams, and each wakeup (epoll, recvmmsg
 * until EAGAIN, a JS call, an event-loop turn) cost more than the datagrams: at 100k msgs/s the
 * worker's system time fell from 0.87 to 0.52 s per 4 s with it. Adds at most ~1 ms of latency;
 * what arrives meanwhile waits in the socket's receive buffer. With the reader thread
 * (listen.receiveRingBytes > 0) the reader coalesces (recv.c wakes this thread once a batch waits
 * or after 1 ms), so this would only add a millisecond and a timer per wakeup: it is off then
 * (file sink at 30k and 100k msgs/s, two runs each: the worker's CPU the same or lower without it).
 */
const LINGER = data.config.listen.receiveRingBytes === 0
const LINGER_BELOW = 64
const LINGER_MS = 1
let lingering = false

function linger (): void {
  if (lingering || paused || native === undefined) return
  lingering = true
  native.pause()
  setTimeout(() => {
    lingering = false
    if (!paused && native !== undefined) native.resume()
  }, LINGER_MS)
}

/** This worker's own socket's counters; queueBytes: what waits in its reader thread's ring. */
function nativeStats (): { ingest?: { datagrams: number, bytes: number, dropped: Record<string, number> }, queueBytes?: number } {
  if (native === undefined) return {}
  const st = native.stats()
  return { ingest: { ...nativeIngest, dropped: { truncated: st.truncated } }, queueBytes: st.ringUsedBytes }
}

async function start (): Promise<void> {
  try {
    await pipeline.start()
    if (data.receivePath === 'native') {
      const { openNativeSocket } = await import('../ingest/native.js')
      const l = data.config.listen
      native = openNativeSocket({
        address: l.address,
        port: l.port,
        recvBufferBytes: l.recvBufferBytes,
        reusePort: true,
        batchSize: data.config.workers.batchSize,
        // Same host → same worker as the JS path, whatever source port the host uses.
        steerGroupSize: data.workerCount,
        ringBytes: l.receiveRingBytes
      }, (b) => {
        nativeIngest.datagrams += b.count
        for (let i = 0; i < b.count; i++) nativeIngest.bytes += b.lengths[i]!
        pipeline.receiveBatch(b)
        if (pipeline.pressure() > HIGH_WATER) pauseReading()
        else if (LINGER && b.count < LINGER_BELOW) linger()
      })
      post({ type: 'ready', receivePath: 'native', recvBufferBytes: native.recvBufferBytes, boundPort: native.boundPort })
    } else {
      post({ type: 'ready', receivePath: 'js' })
    }
    if (data.statsIntervalMs > 0) {
      statsTimer = setInterval(() => {
        post({ type: 'stats', snapshot: pipeline.snapshot(), hosts: data.hostStats ? hosts() : [], kernelDrops: native?.kernelDrops() ?? null, ...nativeStats() })
      }, data.statsIntervalMs)
      statsTimer.unref()
    }
  } catch (err) {
    post({ type: 'error', stage: 'start', error: serializeError(err) })
    // Give the message time to leave before the thread goes away.
    setTimeout(() => process.exit(1), 50)
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'batch':
      // The main thread's socket cannot be paused from here: shed the batch unparsed (counted).
      if (pipeline.pressure() > HIGH_WATER) pipeline.shed(m.count)
      else pipeline.receiveBatch(m)
      post({ type: 'ack', bytes: m.data.byteLength })
      break
    case 'reload':
      pipeline.reload(m.config).then(
        () => post({ type: 'reloaded', id: m.id }),
        (err: unknown) => post({ type: 'error', stage: 'reload', error: serializeError(err), id: m.id }))
      break
    case 'reopen':
      void pipeline.reopen()
      break
    case 'health':
      void pipeline.health().then((sinks) => post({ type: 'health', id: m.id, sinks }))
      break
    case 'shutdown':
      if (statsTimer !== undefined) clearInterval(statsTimer)
      // Take what the kernel still holds for this socket before closing it.
      native?.drain()
      native?.close()
      native = undefined
      void pipeline.shutdown(m.deadlineMs).then((snapshot) => {
        post({ type: 'closed', snapshot, hosts: hosts() })
        port.close()
      })
      break
  }
})

void start()
