/**
 * RFC 5426 transport: one datagram per message from a connected UDP socket.
 *
 * UDP has no delivery feedback, so "ok" means "handed to the kernel". Connecting the socket
 * makes the kernel report ICMP port-unreachable as ECONNREFUSED on a later send (Linux
 * `udp(7)`), which is turned into a retryable result so a receiver that is down shows up in
 * the sink's counters instead of vanishing silently. The name is resolved when the socket is
 * opened, and again after any error other than ECONNREFUSED.
 *
 * With the native addon (native/send.c) a batch is encoded into one buffer and sent with
 * sendmmsg(2), up to 1024 datagrams per system call, from a non-blocking socket: when the
 * kernel's send buffer is full it sends the rest a moment later (never blocking the thread),
 * giving up after `writeTimeoutMs`. Without the addon (or `native: false`) each datagram is a
 * node:dgram send, as before. The bytes on the wire are the same either way.
 */
import { createSocket, type Socket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import type { Logger } from 'pino'
import { NetconsdError } from '../../errors.js'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, SendResult, Transport } from '../types.js'
import type { SyslogEncoder } from './encode.js'
import { loadNativeSend, type NativeSend } from './native-send.js'

export interface UdpTransportOptions {
  host: string
  port: number
  /** Use sendmmsg from the native addon when it loads (default true). */
  native?: boolean
  /** Native path: how long a batch may wait for room in the send buffer (default 5000 ms). */
  writeTimeoutMs?: number
  /** Native path, tests: datagrams per sendmmsg call (default and maximum 1024). */
  maxPerCall?: number
  /** Native path, tests: SO_SNDBUF for the socket (default: the kernel's). */
  sndbuf?: number
  /** Tests: the native module to use instead of the loaded addon. */
  nativeModule?: NativeSend
}

interface NativeSocket { fd: number }

export class UdpTransport implements Transport {
  readonly #opts: UdpTransportOptions
  readonly #encoder: SyslogEncoder
  readonly #logger: Logger
  #socket: Promise<Socket | NativeSocket> | null = null
  #closed = false
  readonly #native: NativeSend | null
  /** Sends that had to wait for room in the socket's send buffer (native path). */
  sendBufferWaits = 0

  constructor (opts: UdpTransportOptions, encoder: SyslogEncoder, logger: Logger) {
    this.#opts = opts
    this.#encoder = encoder
    this.#logger = logger
    this.#native = opts.native === false ? null : opts.nativeModule ?? loadNativeSend()
  }

  /** Which send path this transport uses. */
  get path (): 'sendmmsg' | 'dgram' { return this.#native !== null ? 'sendmmsg' : 'dgram' }

  #error (message: string, cause: unknown): NetconsdError {
    const errno = (cause as { code?: unknown } | null)?.code
    return new NetconsdError('NETCONSD_ERR_SINK_SEND', message, {
      protocol: 'udp', peer: `${this.#opts.host}:${this.#opts.port}`, ...(typeof errno === 'string' ? { errno } : {})
    }, { cause })
  }

  async #open (): Promise<Socket | NativeSocket> {
    const { address, family } = await lookup(this.#opts.host)
    if (this.#native !== null) return { fd: this.#native.udpConnect(address, this.#opts.port, family === 6, this.#opts.sndbuf ?? 0) }
    const s = createSocket({ type: family === 6 ? 'udp6' : 'udp4' })
    // Errors after connect are reported through send callbacks; keep the emitter quiet.
    s.on('error', (err) => { this.#logger.debug({ err }, 'syslog udp socket error') })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      s.once('error', onError)
      s.connect(this.#opts.port, address, () => { s.off('error', onError); resolve() })
    })
    s.unref()
    return s
  }

  #get (): Promise<Socket | NativeSocket> {
    if (this.#socket === null) {
      const p = this.#open()
      this.#socket = p
      p.catch(() => { if (this.#socket === p) this.#socket = null })
    }
    return this.#socket
  }

  async #reset (): Promise<void> {
    const p = this.#socket
    this.#socket = null
    if (p !== null) {
      try {
        const s = await p
        if ('fd' in s) this.#native?.udpClose(s.fd)
        else s.close()
      } catch { /* already closed or never opened */ }
    }
  }

  async send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    if (this.#closed) return { status: 'failed', error: new NetconsdError('NETCONSD_ERR_SINK_CLOSED', 'syslog transport is closed') }
    let s: Socket | NativeSocket
    try {
      s = await this.#get()
    } catch (err) {
      return { status: 'retryable', error: this.#error(`cannot open UDP socket to ${this.#opts.host}:${this.#opts.port}`, err) }
    }
    if ('fd' in s) return await this.#sendNative(this.#native!, s.fd, batch, signal)
    const results = await Promise.all(batch.map((rec) => new Promise<Error | null>((resolve) => {
      try {
        s.send(this.#encoder.message(rec), (err) => { resolve(err ?? null) })
      } catch (err) {
        resolve(err as Error)
      }
    })))
    const err = results.find((e) => e !== null)
    if (err === undefined || err === null) return { status: 'ok' }
    if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') await this.#reset()
    return { status: 'retryable', error: this.#error(`UDP send to ${this.#opts.host}:${this.#opts.port} failed`, err) }
  }

  async #sendNative (n: NativeSend, fd: number, batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    const { buf, lens } = this.#encoder.messageBatch(batch)
    const deadline = Date.now() + (this.#opts.writeTimeoutMs ?? 5000)
    let done = 0
    let waitMs = 1
    try {
      for (;;) {
        done += n.udpSendBatch(fd, buf, lens, done, lens.length, this.#opts.maxPerCall ?? 1024)
        if (done >= lens.length) return { status: 'ok' }
        // The send buffer is full (EAGAIN/ENOBUFS): the kernel frees it as the NIC (or loopback)
        // drains; wait a little, longer each time, instead of spinning the thread.
        this.sendBufferWaits++
        if (signal?.aborted === true) throw Object.assign(new Error('send aborted'), { code: 'ABORT_ERR' })
        if (Date.now() >= deadline) throw Object.assign(new Error(`UDP send buffer stayed full for ${this.#opts.writeTimeoutMs ?? 5000} ms`), { code: 'ETIMEDOUT' })
        await new Promise((resolve) => setTimeout(resolve, waitMs))
        waitMs = Math.min(waitMs * 2, 50)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') await this.#reset()
      return { status: 'retryable', error: this.#error(`UDP send to ${this.#opts.host}:${this.#opts.port} failed after ${done + ((err as { sent?: number }).sent ?? 0)} of ${lens.length} datagrams`, err) }
    }
  }

  /** UDP cannot tell whether anyone listens; healthy means the name resolves and a socket connects. */
  async health (): Promise<HealthResult> {
    try {
      await this.#get()
      return { ok: true }
    } catch (err) {
      return { ok: false, message: `cannot reach ${this.#opts.host}:${this.#opts.port} over UDP: ${(err as Error).message}` }
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#reset()
  }
}
