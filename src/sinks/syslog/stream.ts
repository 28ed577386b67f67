/**
 * TCP (RFC 6587) and TLS (RFC 5425) transport: one long-lived connection per sink instance.
 *
 * - A batch is framed (see encode.ts) and written in one `write()`; "ok" means the bytes were
 *   handed to the kernel. Syslog over TCP has no application acknowledgement (that is RELP),
 *   so a batch written in the instant the receiver dies can be lost; everything written after
 *   the loss is noticed (FIN/RST seen, or a write error) is retried by the delivery runner.
 * - A send while disconnected connects first. A failed connect backs off exponentially
 *   (`reconnectBackoffMs` doubling up to `reconnectBackoffMaxMs`, with jitter); sends during
 *   the backoff return `retryable` with `retryAfterMs` without touching the network.
 * - A write that does not complete within `writeTimeoutMs` (a peer that stopped reading, so
 *   the kernel's send buffer is full) destroys the connection and returns `retryable`; the
 *   retry may duplicate part of that batch on the receiver (at-least-once).
 * - Sends are serialised: a second batch waits for the first to finish.
 */
import { jitteredDelayMs } from '../delivery/attempt.js'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls'
import type { Logger } from 'pino'
import { NetconsdError } from '../../errors.js'
import { RateLimitedLog } from '../../log.js'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, SendResult, Transport } from '../types.js'
import type { SyslogEncoder } from './encode.js'
import type { ResolvedTls } from './options.js'

export interface StreamTransportOptions {
  host: string
  port: number
  protocol: 'tcp' | 'tls'
  tls: ResolvedTls | null
  connectTimeoutMs: number
  reconnectBackoffMs: number
  reconnectBackoffMaxMs: number
  writeTimeoutMs: number
  /** TCP keepalive probe delay; finds a silently vanished peer on an idle connection. */
  keepAliveMs?: number
}

export interface StreamTransportStats {
  connects: number
  connectFailures: number
  disconnects: number
  connected: boolean
}

export class StreamTransport implements Transport {
  readonly #o: StreamTransportOptions
  readonly #encoder: SyslogEncoder
  readonly #logger: Logger
  readonly #rl = new RateLimitedLog(30_000)
  #sock: Socket | null = null
  #connecting: Promise<Socket> | null = null
  #failures = 0
  #nextAttemptAt = 0
  #tail: Promise<unknown> = Promise.resolve()
  #closed = false
  readonly #stats: StreamTransportStats = { connects: 0, connectFailures: 0, disconnects: 0, connected: false }

  constructor (opts: StreamTransportOptions, encoder: SyslogEncoder, logger: Logger) {
    this.#o = opts
    this.#encoder = encoder
    this.#logger = logger
  }

  get peer (): string { return `${this.#o.host}:${this.#o.port}` }

  /** Named apart from `stats()`: the runner treats a transport with `stats()` as a disk buffer. */
  connectionStats (): StreamTransportStats {
    return { ...this.#stats, connected: this.#sock !== null }
  }

  #error (message: string, cause: unknown, extra: Record<string, unknown> = {}): NetconsdError {
    const errno = (cause as { code?: unknown } | null)?.code
    return new NetconsdError('NETCONSD_ERR_SINK_SEND', message, {
      protocol: this.#o.protocol, peer: this.peer, ...(typeof errno === 'string' ? { errno } : {}), ...extra
    }, { cause })
  }

  /** Exponential backoff with equal jitter: half fixed, half random, so instances do not reconnect in lockstep. */
  #backoffMs (): number {
    const d = Math.min(this.#o.reconnectBackoffMaxMs, this.#o.reconnectBackoffMs * 2 ** Math.min(this.#failures - 1, 30))
    return Math.round(jitteredDelayMs(d))
  }

  #dial (): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const { host, port } = this.#o
      let sock: Socket | TLSSocket
      let readyEvent: string
      if (this.#o.protocol === 'tls') {
        const t = this.#o.tls ?? { rejectUnauthorized: true }
        const co: ConnectionOptions = { host, port, rejectUnauthorized: t.rejectUnauthorized, minVersion: 'TLSv1.2' }
        if (t.ca !== undefined) co.ca = t.ca
        if (t.cert !== undefined) co.cert = t.cert
        if (t.key !== undefined) co.key = t.key
        if (t.passphrase !== undefined) co.passphrase = t.passphrase
        // SNI must not be an IP address (RFC 6066 §3); certificate checks still use `host`.
        const sni = t.servername ?? (isIP(host) === 0 ? host : undefined)
        if (sni !== undefined) co.servername = sni
        sock = tlsConnect(co)
        readyEvent = 'secureConnect'
      } else {
        sock = netConnect({ host, port })
        readyEvent = 'connect'
      }
      const timer = setTimeout(() => {
        sock.destroy(Object.assign(new Error(`connect to ${this.peer} timed out after ${this.#o.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }))
      }, this.#o.connectTimeoutMs)
      const onError = (err: Error): void => { clearTimeout(timer); sock.destroy(); reject(err) }
      sock.once('error', onError)
      sock.once(readyEvent, () => {
        clearTimeout(timer)
        sock.off('error', onError)
        resolve(sock)
      })
    })
  }

  #adopt (sock: Socket): void {
    sock.setNoDelay(true)
    sock.setKeepAlive(true, this.#o.keepAliveMs ?? 30_000)
    // Receivers send nothing on a syslog connection; read so a stray byte cannot stall us.
    sock.on('data', () => {})
    // The receiver closed its side (restart, idle timeout): stop using the connection now,
    // before the next batch is written into a socket that will only answer with RST.
    sock.on('end', () => { sock.destroy() })
    sock.on('error', (err) => {
      if (this.#rl.check(`err:${(err as NodeJS.ErrnoException).code ?? err.message}`) >= 0) {
        this.#logger.warn({ err, peer: this.peer }, 'syslog connection error')
      }
    })
    sock.on('close', () => {
      if (this.#sock === sock) {
        this.#sock = null
        this.#stats.disconnects++
        if (!this.#closed) this.#logger.warn({ peer: this.peer }, 'syslog connection lost; reconnecting on the next batch')
      }
    })
    this.#sock = sock
    this.#stats.connects++
    this.#failures = 0
    this.#nextAttemptAt = 0
    this.#logger.info({ peer: this.peer, protocol: this.#o.protocol }, 'syslog connected')
  }

  #connect (ignoreBackoff = false): Promise<Socket> {
    if (this.#sock !== null && !this.#sock.destroyed && this.#sock.writable) return Promise.resolve(this.#sock)
    if (this.#connecting !== null) return this.#connecting
    const wait = this.#nextAttemptAt - Date.now()
    if (wait > 0 && !ignoreBackoff) {
      return Promise.reject(Object.assign(new Error(`reconnect to ${this.peer} backing off`), { code: 'EBACKOFF', retryAfterMs: wait }))
    }
    const p = this.#dial().then((sock) => {
      this.#connecting = null
      if (this.#closed) { sock.destroy(); throw new Error('transport closed') }
      this.#adopt(sock)
      return sock
    }, (err: unknown) => {
      this.#connecting = null
      this.#failures++
      this.#stats.connectFailures++
      const backoff = this.#backoffMs()
      this.#nextAttemptAt = Date.now() + backoff
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      const suppressed = this.#rl.check(`connect:${code}`)
      if (suppressed >= 0) {
        this.#logger.warn({ err, peer: this.peer, failures: this.#failures, retryInMs: backoff, suppressed }, 'syslog connect failed')
      }
      throw Object.assign(err as Error, { retryAfterMs: backoff })
    })
    this.#connecting = p
    return p
  }

  #write (sock: Socket, buf: Buffer, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let done = false
      const finish = (err: Error | null | undefined): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        sock.off('close', onClose)
        signal?.removeEventListener('abort', onAbort)
        if (err === null || err === undefined) resolve()
        else reject(err)
      }
      const onClose = (): void => { finish(Object.assign(new Error('connection closed during write'), { code: 'ECONNRESET' })) }
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`write to ${this.peer} did not complete within ${this.#o.writeTimeoutMs} ms (peer not reading)`), { code: 'ETIMEDOUT' })
        finish(err)
        sock.destroy()
      }, this.#o.writeTimeoutMs)
      // The runner gave up on this attempt (request timeout, shutdown deadline): the connection
      // may hold half a batch, so it cannot be reused.
      const onAbort = (): void => {
        finish(Object.assign(new Error('send aborted'), { code: 'ABORT_ERR' }))
        sock.destroy()
      }
      if (signal?.aborted === true) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      sock.once('close', onClose)
      sock.write(buf, (err) => { finish(err) })
    })
  }

  async #send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    if (this.#closed) return { status: 'failed', error: new NetconsdError('NETCONSD_ERR_SINK_CLOSED', 'syslog transport is closed') }
    let sock: Socket
    try {
      sock = await this.#connect()
    } catch (err) {
      const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs
      const error = this.#error(`cannot connect to syslog receiver ${this.peer}`, err)
      return retryAfterMs === undefined ? { status: 'retryable', error } : { status: 'retryable', error, retryAfterMs }
    }
    // A view of the encoder's buffer: the next batch is encoded only after this write completed
    // (send() chains on #tail), and a failed connection is destroyed before anything is rewritten.
    const buf = this.#encoder.frameBatchView(batch)
    try {
      await this.#write(sock, buf, signal)
      return { status: 'ok' }
    } catch (err) {
      sock.destroy()
      return { status: 'retryable', error: this.#error(`write to syslog receiver ${this.peer} failed`, err, { records: batch.length }) }
    }
  }

  send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    const run = this.#tail.then(async () => await this.#send(batch, signal))
    this.#tail = run.catch(() => {})
    return run
  }

  async health (): Promise<HealthResult> {
    try {
      await this.#connect(true)
      return { ok: true }
    } catch (err) {
      return { ok: false, message: `cannot connect to ${this.#o.protocol} syslog receiver ${this.peer}: ${(err as Error).message}` }
    }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#connecting?.catch(() => {})
    const sock = this.#sock
    this.#sock = null
    if (sock === null || sock.destroyed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { sock.destroy(); resolve() }, 2000)
      sock.once('close', () => { clearTimeout(timer); resolve() })
      sock.end()
    })
  }
}
