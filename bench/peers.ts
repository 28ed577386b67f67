/**
 * Local counting peers for the bench: what the daemon's network sinks (and rsyslog's omfwd) deliver
 * to, counted exactly and cheaply, on loopback only.
 *
 *   TCP   syslog streams: octet counting (`MSG-LEN SP MSG`, RFC 6587 §3.4.1) or LF-terminated
 *         (§3.4.2), told apart per frame as RFC 6587 §3.4 lets a receiver do: a frame that starts
 *         with a digit is octet-counted (a syslog message starts with `<`).
 *   HTTP  OTLP/HTTP logs exports (protobuf or JSON, gzip or not): counts the LogRecords, walking
 *         only the three message levels that hold them, answers 200 with an empty response.
 *   UDP   one message per datagram (RFC 5426).
 *
 * Run as a child process (`node dist/bench/peers.js`), so that the peers' CPU is neither the
 * receiver's nor the bench's: it reports `{ ready, pid, tcp, http, udp }` (ports) over IPC and
 * answers every `'count'` message with the totals so far.
 */
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createSocket, type Socket } from 'node:dgram'
import { gunzip } from 'node:zlib'
import { promisify } from 'node:util'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { AddressInfo, Socket as TcpSocket } from 'node:net'

const gunzipAsync = promisify(gunzip)

/** Counts syslog frames in a byte stream split anywhere. */
export class SyslogFrameCounter {
  count = 0
  // 0: at a frame start, 1: reading MSG-LEN digits, 2: skipping an octet-counted body, 3: scanning for LF
  #mode = 0
  #len = 0

  push (buf: Uint8Array): void {
    const n = buf.length
    let i = 0
    while (i < n) {
      if (this.#mode === 0) {
        const c = buf[i]!
        // Stray line ends between frames (a sender that ends octet-counted frames with LF too).
        if (c === 10 || c === 13) { i++; continue }
        if (c >= 48 && c <= 57) { this.#mode = 1; this.#len = 0 } else this.#mode = 3
      }
      if (this.#mode === 1) {
        while (i < n) {
          const c = buf[i]!
          if (c >= 48 && c <= 57) { this.#len = this.#len * 10 + c - 48; i++; continue }
          if (c === 32) { i++; this.#mode = this.#len === 0 ? 0 : 2; if (this.#len === 0) this.count++ } else this.#mode = 3
          break
        }
        continue
      }
      if (this.#mode === 2) {
        const take = Math.min(this.#len, n - i)
        i += take
        this.#len -= take
        if (this.#len === 0) { this.count++; this.#mode = 0 }
        continue
      }
      // Buffer#indexOf is memchr: the bodies are never walked byte by byte in JS.
      const j = buf.indexOf(10, i)
      if (j < 0) { i = n } else { this.count++; i = j + 1; this.#mode = 0 }
    }
  }
}

function readVarint (b: Uint8Array, pos: number): [number, number] {
  let v = 0
  let mul = 1
  for (;;) {
    if (pos >= b.length) throw new Error('truncated varint')
    const c = b[pos++]!
    v += (c & 0x7f) * mul
    if (c < 0x80) return [v, pos]
    mul *= 128
    if (mul > 2 ** 63) throw new Error('varint too long')
  }
}

/** Calls `fn(start, end)` for each length-delimited field `field` of the message in b[start, end). */
function eachBytesField (b: Uint8Array, start: number, end: number, field: number, fn: (s: number, e: number) => void): void {
  let pos = start
  while (pos < end) {
    let key: number
    ;[key, pos] = readVarint(b, pos)
    const wire = key & 7
    const num = Math.floor(key / 8)
    if (wire === 0) { [, pos] = readVarint(b, pos) } else if (wire === 1) pos += 8
    else if (wire === 5) pos += 4
    else if (wire === 2) {
      let len: number
      ;[len, pos] = readVarint(b, pos)
      if (pos + len > end) throw new Error('truncated field')
      if (num === field) fn(pos, pos + len)
      pos += len
    } else throw new Error(`unsupported wire type ${wire}`)
  }
  if (pos !== end) throw new Error('truncated message')
}

/**
 * LogRecords in an OTLP `ExportLogsServiceRequest` (opentelemetry/proto/collector/logs/v1):
 * request.resource_logs = 1 → ResourceLogs.scope_logs = 2 → ScopeLogs.log_records = 2.
 * Nothing inside a record is decoded.
 */
export function countOtlpProtobufRecords (b: Uint8Array): number {
  let n = 0
  eachBytesField(b, 0, b.length, 1, (rs, re) => {
    eachBytesField(b, rs, re, 2, (ss, se) => {
      eachBytesField(b, ss, se, 2, () => { n++ })
    })
  })
  return n
}

/** The same count for the OTLP/JSON encoding (`resourceLogs[].scopeLogs[].logRecords[]`). */
export function countOtlpJsonRecords (text: string): number {
  const req = JSON.parse(text) as { resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: unknown[] }> }> }
  let n = 0
  for (const r of req.resourceLogs ?? []) for (const s of r.scopeLogs ?? []) n += s.logRecords?.length ?? 0
  return n
}

export interface PeerCounts { tcp: number, tcpBytes: number, http: number, httpRequests: number, httpErrors: number, udp: number }

export class CountingPeers {
  readonly counts: PeerCounts = { tcp: 0, tcpBytes: 0, http: 0, httpRequests: 0, httpErrors: 0, udp: 0 }
  #tcp: TcpServer | undefined
  #http: HttpServer | undefined
  #udp: Socket | undefined
  readonly #counters = new Set<SyslogFrameCounter>()
  #closedTcp = 0
  readonly #sockets = new Set<TcpSocket>()

  /** Total TCP frames, including those on connections still open. */
  tcpCount (): number {
    let n = this.#closedTcp
    for (const c of this.#counters) n += c.count
    return n
  }

  snapshot (): PeerCounts {
    return { ...this.counts, tcp: this.tcpCount() }
  }

  async start (host = '127.0.0.1'): Promise<{ tcp: number, http: number, udp: number }> {
    const tcp = this.#tcp = createTcpServer((sock) => {
      const c = new SyslogFrameCounter()
      this.#counters.add(c)
      this.#sockets.add(sock)
      sock.on('data', (d: Buffer) => { this.counts.tcpBytes += d.length; c.push(d) })
      sock.on('error', () => {})
      sock.on('close', () => { this.#counters.delete(c); this.#closedTcp += c.count; this.#sockets.delete(sock) })
    })
    const http = this.#http = createHttpServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (d: Buffer) => chunks.push(d))
      req.on('end', () => {
        void (async () => {
          let body = Buffer.concat(chunks)
          const json = (req.headers['content-type'] ?? '').includes('json')
          try {
            if (req.headers['content-encoding'] === 'gzip') body = await gunzipAsync(body)
            this.counts.http += json ? countOtlpJsonRecords(body.toString('utf8')) : countOtlpProtobufRecords(body)
            this.counts.httpRequests++
            res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
            res.end(json ? '{}' : undefined)
          } catch (err) {
            this.counts.httpErrors++
            res.writeHead(400, { 'content-type': 'text/plain' })
            res.end((err as Error).message)
          }
        })()
      })
    })
    const udp = this.#udp = createSocket('udp4')
    udp.on('message', () => { this.counts.udp++ })
    await new Promise<void>((resolve) => tcp.listen(0, host, resolve))
    await new Promise<void>((resolve) => http.listen(0, host, resolve))
    await new Promise<void>((resolve) => udp.bind(0, host, resolve))
    // The bench's syslog-over-UDP peer sees the same bursts as the receiver; a small buffer would count kernel drops.
    try { udp.setRecvBufferSize(4 << 20) } catch { /* capped by rmem_max */ }
    return { tcp: (tcp.address() as AddressInfo).port, http: (http.address() as AddressInfo).port, udp: udp.address().port }
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    this.#http?.closeAllConnections()
    await Promise.all([
      new Promise((resolve) => this.#tcp !== undefined ? this.#tcp.close(resolve) : resolve(undefined)),
      new Promise((resolve) => this.#http !== undefined ? this.#http.close(resolve) : resolve(undefined)),
      new Promise((resolve) => this.#udp !== undefined ? this.#udp.close(() => resolve(undefined)) : resolve(undefined))
    ])
  }
}

/** Client side: the peers in a child process. */
export interface PeersProcess { pid: number, ports: { tcp: number, http: number, udp: number }, counts: () => Promise<PeerCounts>, stop: () => Promise<void> }

export async function startPeersProcess (): Promise<PeersProcess> {
  const child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting: Array<(c: PeerCounts) => void> = []
  const ports = await new Promise<{ tcp: number, http: number, udp: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`peers exited (${code})`)))
    child.on('message', (m: { ready?: boolean, ports?: { tcp: number, http: number, udp: number }, counts?: PeerCounts }) => {
      if (m.ready === true && m.ports !== undefined) resolve(m.ports)
      if (m.counts !== undefined) waiting.shift()?.(m.counts)
    })
  })
  return {
    pid: child.pid!,
    ports,
    counts: async () => await new Promise<PeerCounts>((resolve) => { waiting.push(resolve); child.send('count') }),
    stop: async () => {
      if (child.exitCode !== null) return
      const done = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await done
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  const peers = new CountingPeers()
  const ports = await peers.start()
  process.on('message', (m) => { if (m === 'count') process.send!({ counts: peers.snapshot() }) })
  process.on('SIGTERM', () => { void peers.close().then(() => process.exit(0)) })
  process.on('disconnect', () => { void peers.close().then(() => process.exit(0)) })
  process.send({ ready: true, ports })
}
