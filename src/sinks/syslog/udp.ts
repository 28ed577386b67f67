/**
 * RFC 5426 transport: one datagram per message from a connected UDP socket.
 *
 * UDP has no delivery feedback, so "ok" means "handed to the kernel". Connecting the socket
 * makes the kernel report ICMP port-unreachable as ECONNREFUSED on a later send (Linux
 * `udp(7)`), which is turned into a retryable result so a receiver that is down shows up in
 * the sink's counters instead of vanishing silently. The name is resolved when the socket is
 * opened, and again after any error other than ECONNREFUSED.
 */
import { createSocket, type Socket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import type { Logger } from 'pino'
import { NetconsdError } from '../../errors.js'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, SendResult, Transport } from '../types.js'
import type { SyslogEncoder } from './encode.js'

export interface UdpTransportOptions {
  host: string
  port: number
}

export class UdpTransport implements Transport {
  readonly #opts: UdpTransportOptions
  readonly #encoder: SyslogEncoder
  readonly #logger: Logger
  #socket: Promise<Socket> | null = null
  #closed = false

  constructor (opts: UdpTransportOptions, encoder: SyslogEncoder, logger: Logger) {
    this.#opts = opts
    this.#encoder = encoder
    this.#logger = logger
  }

  #error (message: string, cause: unknown): NetconsdError {
    const errno = (cause as { code?: unknown } | null)?.code
    return new NetconsdError('NETCONSD_ERR_SINK_SEND', message, {
      protocol: 'udp', peer: `${this.#opts.host}:${this.#opts.port}`, ...(typeof errno === 'string' ? { errno } : {})
    }, { cause })
  }

  async #open (): Promise<Socket> {
    const { address, family } = await lookup(this.#opts.host)
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

  #get (): Promise<Socket> {
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
      try { (await p).close() } catch { /* already closed or never opened */ }
    }
  }

  async send (batch: readonly NetconsRecord[]): Promise<SendResult> {
    if (this.#closed) return { status: 'failed', error: new NetconsdError('NETCONSD_ERR_SINK_CLOSED', 'syslog transport is closed') }
    let s: Socket
    try {
      s = await this.#get()
    } catch (err) {
      return { status: 'retryable', error: this.#error(`cannot open UDP socket to ${this.#opts.host}:${this.#opts.port}`, err) }
    }
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
