/**
 * The pure-JS receive path: one dual-stack dgram socket on the main thread; each datagram is
 * hashed by source address to a worker and appended to that worker's pending batch; pending
 * batches leave once per event-loop turn (one postMessage per worker per turn, buffers
 * transferred, never one message per packet).
 *
 * Memory is bounded: bytes handed to a worker and not yet acknowledged are capped per worker;
 * beyond the cap datagrams are dropped and counted (`worker_queue_full`).
 */
import dgram from 'node:dgram'
import { once } from 'node:events'
import type { Logger } from 'pino'
import { parseAddress } from './batch.js'
import { workerFor } from './hash.js'
import { NetconsdError } from '../errors.js'
import type { BatchMessage } from '../worker/protocol.js'

export interface JsIngestOptions {
  address: string
  port: number
  recvBufferBytes: number
  listeners: number
  workers: number
  /** Bytes in flight to one worker before new datagrams for it are dropped. */
  maxQueuedBytesPerWorker: number
  logger: Logger
  /** Hands a batch to worker `w` (transfers its buffers). */
  post: (w: number, batch: BatchMessage) => void
}

export interface IngestCounters {
  datagrams: number
  bytes: number
  dropped: Record<string, number>
}

class BatchBuilder {
  data = new Uint8Array(64 * 1024)
  used = 0
  count = 0
  offsets = new Uint32Array(256)
  lengths = new Uint32Array(256)
  addrs = new Uint8Array(256 * 16)
  ports = new Uint16Array(256)

  add (payload: Uint8Array, addr: Uint8Array, port: number): void {
    if (this.used + payload.length > this.data.length) {
      const d = new Uint8Array(Math.max(this.data.length * 2, this.used + payload.length))
      d.set(this.data.subarray(0, this.used))
      this.data = d
    }
    if (this.count === this.offsets.length) {
      const n = this.count * 2
      const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, mk: (n: number) => T, per = 1): T => { const b = mk(n * per); b.set(a); return b }
      this.offsets = grow(this.offsets, (k) => new Uint32Array(k))
      this.lengths = grow(this.lengths, (k) => new Uint32Array(k))
      this.ports = grow(this.ports, (k) => new Uint16Array(k))
      this.addrs = grow(this.addrs, (k) => new Uint8Array(k), 16)
    }
    this.data.set(payload, this.used)
    this.offsets[this.count] = this.used
    this.lengths[this.count] = payload.length
    this.addrs.set(addr, this.count * 16)
    this.ports[this.count] = port
    this.used += payload.length
    this.count++
  }

  /** Detaches the current contents as a message (right-sized copies) and resets. */
  take (rxMs: number): BatchMessage {
    const n = this.count
    const m: BatchMessage = {
      type: 'batch',
      count: n,
      data: this.data.slice(0, this.used),
      offsets: this.offsets.slice(0, n),
      lengths: this.lengths.slice(0, n),
      addrs: this.addrs.slice(0, n * 16),
      ports: this.ports.slice(0, n),
      rxMs
    }
    this.used = 0
    this.count = 0
    return m
  }
}

interface AddrEntry { bytes: Uint8Array, worker: number }

export class JsIngest {
  readonly counters: IngestCounters = { datagrams: 0, bytes: 0, dropped: {} }
  readonly #opts: JsIngestOptions
  readonly #sockets: dgram.Socket[] = []
  readonly #builders: BatchBuilder[]
  readonly #inFlight: number[]
  readonly #addrCache = new Map<string, AddrEntry>()
  #scheduled = false
  #closed = false
  recvBufferBytes = 0
  boundPort = 0

  constructor (opts: JsIngestOptions) {
    this.#opts = opts
    this.#builders = Array.from({ length: opts.workers }, () => new BatchBuilder())
    this.#inFlight = new Array<number>(opts.workers).fill(0)
  }

  /** Binds the socket(s). Throws NETCONSD_ERR_INGEST_BIND with the address and the OS reason. */
  async start (): Promise<void> {
    const o = this.#opts
    let listeners = o.listeners
    const reusePortSupported = supportsReusePort()
    if (listeners > 1 && !reusePortSupported) {
      o.logger.warn({ listeners, node: process.version }, 'More than one listener needs SO_REUSEPORT in dgram (Node >= 22.12); using one listener.')
      listeners = 1
    }
    for (let i = 0; i < listeners; i++) {
      const opts: dgram.SocketOptions & { reusePort?: boolean } = { type: 'udp6', ipv6Only: false, recvBufferSize: o.recvBufferBytes }
      if (listeners > 1) opts.reusePort = true
      const s = dgram.createSocket(opts)
      s.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port))
      try {
        s.bind({ address: toBindAddress(o.address), port: i === 0 ? o.port : this.boundPort, exclusive: listeners === 1 })
        await once(s, 'listening')
      } catch (err) {
        s.close()
        const code = (err as NodeJS.ErrnoException).code
        const hint = code === 'EADDRINUSE'
          ? 'another process holds the port; stop it or pick another port (-u)'
          : code === 'EACCES'
            ? 'ports below 1024 need CAP_NET_BIND_SERVICE; use 1514 or grant the capability'
            : code === 'EADDRNOTAVAIL'
              ? 'the address is not configured on this machine (-a)'
              : (err as Error).message
        throw new NetconsdError('NETCONSD_ERR_INGEST_BIND', `Cannot listen on UDP [${o.address}]:${o.port}: ${code ?? 'bind failed'}: ${hint}.`,
          { address: o.address, port: o.port, reason: code ?? (err as Error).message }, { cause: err })
      }
      // Only after a successful bind: a bind failure is reported once, above.
      s.on('error', (err) => o.logger.error({ err }, 'UDP socket error.'))
      if (i === 0) {
        this.boundPort = s.address().port
        try { s.setRecvBufferSize(o.recvBufferBytes) } catch { /* capped below */ }
        this.recvBufferBytes = s.getRecvBufferSize()
        // Linux reports double the requested value (bookkeeping overhead, socket(7)); less means rmem_max capped it.
        if (this.recvBufferBytes < o.recvBufferBytes) {
          o.logger.warn({ requested: o.recvBufferBytes, got: this.recvBufferBytes },
            'The kernel capped the UDP receive buffer; raise net.core.rmem_max to absorb bursts.')
        }
      }
      this.#sockets.push(s)
    }
  }

  #onMessage (msg: Buffer, address: string, port: number): void {
    const c = this.counters
    c.datagrams++
    c.bytes += msg.length
    let e = this.#addrCache.get(address)
    if (e === undefined) {
      const bytes = new Uint8Array(16)
      parseAddress(address, bytes, 0)
      e = { bytes, worker: workerFor(bytes, 0, this.#opts.workers) }
      if (this.#addrCache.size >= 100_000) this.#addrCache.clear()
      this.#addrCache.set(address, e)
    }
    const w = e.worker
    const b = this.#builders[w]!
    if (this.#inFlight[w]! + b.used + msg.length > this.#opts.maxQueuedBytesPerWorker) {
      c.dropped.worker_queue_full = (c.dropped.worker_queue_full ?? 0) + 1
      return
    }
    b.add(msg, e.bytes, port)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Sends every pending batch now. */
  flush (): void {
    this.#scheduled = false
    const now = Date.now()
    for (let w = 0; w < this.#builders.length; w++) {
      const b = this.#builders[w]!
      if (b.count === 0) continue
      const m = b.take(now)
      this.#inFlight[w]! += m.data.byteLength
      this.#opts.post(w, m)
    }
  }

  /** A worker finished a batch of `bytes`. */
  ack (w: number, bytes: number): void {
    this.#inFlight[w] = Math.max(0, this.#inFlight[w]! - bytes)
  }

  /** Bytes handed to worker `w` and not yet processed. */
  queuedBytes (w: number): number {
    return this.#inFlight[w]! + this.#builders[w]!.used
  }

  /** Stops receiving and hands over what is pending. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all(this.#sockets.map(async (s) => await new Promise<void>((resolve) => s.close(() => resolve()))))
    this.flush()
  }
}

function supportsReusePort (): boolean {
  const [maj, min] = process.versions.node.split('.').map(Number) as [number, number]
  return maj > 22 || (maj === 22 && min >= 12)
}

/** `-a 10.1.2.3` binds the v4-mapped form on the dual-stack socket (netconsd PR #22 behaviour). */
function toBindAddress (a: string): string {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(a) ? `::ffff:${a}` : a
}
