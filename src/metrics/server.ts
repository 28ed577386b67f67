/**
 * The operations HTTP endpoint: `/metrics` (Prometheus text), `/healthz` (the process is
 * alive and its event loop turns), `/readyz` (the daemon can do its job: sockets bound,
 * workers up, sinks healthy, as decided by the caller's `ready()`).
 *
 * Off unless `metrics.listen` is set. A bare port (`9514` or `:9514`) binds to 127.0.0.1: an
 * endpoint reachable from the network must be asked for by writing its address. Nothing here
 * reads configuration values, and readiness reasons pass through src/redact.ts, so no secret can
 * leak through it; label values are ids, rule names, host names and reasons only.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http'
import { isIP, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { NetconsdError } from '../errors.js'
import type { Metrics } from './metrics.js'
import { redactText } from '../redact.js'

export interface Readiness {
  ok: boolean
  /** Why not, one short phrase each (`sink otlp unhealthy: ECONNREFUSED`). */
  reasons: string[]
}

export interface ReadinessInput {
  /** Listen sockets bound (JS path) or every native worker reported its socket. */
  socketsBound: boolean
  workers: ReadonlyArray<{ thread: number, ready: boolean }>
  /** Latest sink health per sink id (from `Sink.health()`), merged over workers. */
  sinks?: Readonly<Record<string, { ok: boolean, message?: string }>>
  /** Shutting down: not ready, so load balancers move traffic away first. */
  stopping?: boolean
}

/** The daemon's readiness rule, as a pure function: every reason it is not ready. */
export function readiness (i: ReadinessInput): Readiness {
  const reasons: string[] = []
  if (i.stopping === true) reasons.push('shutting down')
  if (!i.socketsBound) reasons.push('UDP socket not bound')
  if (i.workers.length === 0) reasons.push('no workers')
  for (const w of i.workers) if (!w.ready) reasons.push(`worker ${w.thread} not running`)
  for (const [id, h] of Object.entries(i.sinks ?? {})) {
    if (!h.ok) reasons.push(`sink ${id} unhealthy${h.message !== undefined ? `: ${h.message}` : ''}`)
  }
  // A sink's message may quote its peer's URL: shown as origin + path only (src/redact.ts).
  return { ok: reasons.length === 0, reasons: reasons.map(redactText) }
}

export interface MetricsServerOptions {
  /** `host:port`, `[v6]:port`, `:port` or `port`; without a host it binds to 127.0.0.1. */
  listen: string
  metrics: Metrics
  ready: () => Readiness | Promise<Readiness>
  logger?: Logger
  /** Open connections before the oldest one without a request in progress is closed (default 64). */
  maxConnections?: number
  /** A connection must deliver a whole request head within this many ms of connecting or going idle (default 2000). */
  headersTimeoutMs?: number
}

export interface MetricsServer {
  /** The bound address (the real port when `listen` asked for port 0). */
  readonly address: { host: string, port: number }
  /** Stops accepting, ends idle keep-alive connections, resolves when closed. Idempotent. */
  close (): Promise<void>
}

export interface ListenAddress { host: string, port: number, explicitHost: boolean }

/** Parses `metrics.listen`; throws NETCONSD_ERR_METRICS_LISTEN naming what is wrong. */
export function parseListen (listen: string): ListenAddress {
  const bad = (why: string): NetconsdError => new NetconsdError('NETCONSD_ERR_METRICS_LISTEN',
    `metrics.listen "${listen}" is invalid: ${why}. Use "127.0.0.1:9514", "[::1]:9514" or "9514".`, { listen })
  let host = ''
  let portText: string
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(listen)
  if (v6 !== null) {
    host = v6[1]!
    portText = v6[2]!
  } else {
    const colon = listen.lastIndexOf(':')
    if (colon < 0) {
      portText = listen
    } else {
      host = listen.slice(0, colon)
      portText = listen.slice(colon + 1)
      if (host.includes(':')) throw bad('an IPv6 address must be written in brackets')
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad('the port must be a number 0..65535')
  if (host !== '' && host !== 'localhost' && isIP(host) === 0) throw bad('the host must be an IP address or localhost')
  return { host: host === '' ? '127.0.0.1' : host, port: Number(portText), explicitHost: host !== '' }
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || /^::ffff:127\./i.test(host)
}

export async function startMetricsServer (opts: MetricsServerOptions): Promise<MetricsServer> {
  const where = parseListen(opts.listen)
  const { metrics, ready, logger } = opts
  const maxConnections = opts.maxConnections ?? 64
  const headersTimeoutMs = opts.headersTimeoutMs ?? 2000
  // Node's own headersTimeout is only checked every connectionsCheckingInterval (30 s by default),
  // and `maxConnections` refuses the *new* connection: 64 slowloris sockets locked every probe out
  // for ~26 s (issue 14). So connections are tracked here instead:
  //  - a connection with no request in progress (still sending its head, or idle keep-alive) gets
  //    `headersTimeoutMs` to start one, enforced by its own timer;
  //  - when the table is full, a new connection is never refused: the oldest connection without a
  //    request in progress is closed instead. A probe sends its head at once and is answered in the
  //    same turn, so it always gets in; a stalling client is the one that loses its slot.
  const server: Server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => { handle(req, res).catch((err: unknown) => fail(res, err)) })
  server.headersTimeout = headersTimeoutMs
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 5_000
  interface Conn { socket: Socket, busy: number, timer: NodeJS.Timeout | undefined }
  const conns = new Map<Socket, Conn>() // insertion order = age
  const idle = (c: Conn): void => {
    if (c.timer !== undefined) clearTimeout(c.timer)
    c.timer = setTimeout(() => { c.socket.destroy() }, headersTimeoutMs)
    c.timer.unref()
  }
  server.on('connection', (socket: Socket) => {
    const c: Conn = { socket, busy: 0, timer: undefined }
    conns.set(socket, c)
    idle(c)
    socket.once('close', () => {
      if (c.timer !== undefined) clearTimeout(c.timer)
      conns.delete(socket)
    })
    if (conns.size > maxConnections) {
      let evicted = false
      for (const o of conns.values()) {
        if (o.busy === 0 && o !== c) { o.socket.destroy(); conns.delete(o.socket); evicted = true; break }
      }
      // Every slot has a request in progress (each bounded by requestTimeout): allow some more, not without end.
      if (!evicted && conns.size > 4 * maxConnections) { socket.destroy(); conns.delete(socket) }
    }
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const c = conns.get(req.socket)
    if (c === undefined) return
    c.busy++
    if (c.timer !== undefined) { clearTimeout(c.timer); c.timer = undefined }
    res.once('close', () => {
      c.busy--
      if (c.busy === 0 && !c.socket.destroyed) idle(c)
    })
  })

  function fail (res: ServerResponse, err: unknown): void {
    logger?.error({ err }, 'Metrics endpoint request failed.')
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('internal error\n')
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      res.end('method not allowed\n')
      return
    }
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await metrics.render()
        send(200, contentType, body)
        return
      }
      case '/healthz':
        send(200, 'text/plain; charset=utf-8', 'ok\n')
        return
      case '/readyz': {
        let r: Readiness
        try {
          r = await ready()
        } catch (err) {
          r = { ok: false, reasons: [`readiness check threw: ${redactText(err instanceof Error ? err.message : String(err))}`] }
        }
        send(r.ok ? 200 : 503, 'application/json', JSON.stringify({ ok: r.ok, reasons: r.reasons }) + '\n')
        return
      }
      default:
        send(404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n')
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new NetconsdError('NETCONSD_ERR_METRICS_LISTEN',
        `Cannot listen on ${opts.listen} for metrics: ${err.code ?? err.message}.`, { listen: opts.listen, errno: err.code }, { cause: err }))
    }
    server.once('error', onError)
    server.listen(where.port, where.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  server.on('error', (err) => { logger?.error({ err }, 'Metrics endpoint error.') })
  const bound = server.address()
  const address = typeof bound === 'object' && bound !== null
    ? { host: bound.address, port: bound.port }
    : { host: where.host, port: where.port }
  if (!isLoopback(address.host)) {
    logger?.warn({ listen: opts.listen }, 'Metrics endpoint is reachable from the network; restrict it with a firewall or bind to 127.0.0.1.')
  } else {
    logger?.info({ listen: `${address.host}:${address.port}` }, 'Metrics endpoint listening.')
  }

  let closing: Promise<void> | null = null
  return {
    address,
    async close () {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        server.closeIdleConnections()
        // Connections that never sent a request are not "idle" to Node; they have no reason to stay.
        for (const c of conns.values()) if (c.busy === 0) c.socket.destroy()
      })
      await closing
    }
  }
}
