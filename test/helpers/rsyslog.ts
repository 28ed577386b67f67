/**
 * A real rsyslogd for tests: started in the foreground (`-n`) on free loopback ports with its own
 * config, pidfile and work directory in a tmp dir, so it never touches /dev/log or /var/run (no
 * imuxsock). Every message it receives is written as one JSON object per line with the fields
 * it parsed (hostname, app-name, severity, facility, msgid, structured data, msg), which is what
 * the tests assert on.
 *
 *   const r = await startRsyslog({ tcp: true })
 *   if (r === null) return t.skip('rsyslogd not installed')
 *   ... send to r.tcpPort ...
 *   const msgs = await r.waitFor(3)
 *   await r.stop()
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { createSocket } from 'node:dgram'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface ParsedMessage {
  hostname: string
  appname: string
  procid: string
  msgid: string
  severity: number
  facility: number
  /** `%structured-data%`: `-` or the SD elements as sent. */
  sd: string
  msg: string
  /** `%timereported%` in RFC 3339. */
  timestamp: string
  /** `%protocol-version%`: `1` for RFC 5424, `0` otherwise. */
  version: string
  input: string
}

export interface RsyslogOptions {
  udp?: boolean
  tcp?: boolean
  /** A TLS (gtls) listener with a CA and server certificate generated here. */
  tls?: boolean
  /** With `tls`: require a client certificate signed by the same CA (`x509/certvalid`). */
  tlsClientAuth?: boolean
  /** Keep control characters as received (default) instead of rsyslog's `#012` escaping. */
  escapeControlCharacters?: boolean
  /** Global `maxMessageSize`; default 256k here, `null` leaves rsyslog's own default (8096 in 8.2302). */
  maxMessageSize?: string | null
}

export interface TlsFiles {
  ca: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** A CA that signed nothing here: a client trusting only it must reject the server. */
  otherCa: string
}

export interface Rsyslog {
  dir: string
  udpPort: number
  tcpPort: number
  tlsPort: number
  tlsFiles: TlsFiles | null
  /** Everything received so far. */
  messages: () => ParsedMessage[]
  /** Waits until at least `n` messages were written (or throws after `timeoutMs`). */
  waitFor: (n: number, timeoutMs?: number) => Promise<ParsedMessage[]>
  /** Starts rsyslogd again with the same config and ports (after `kill` or `stop`). */
  start: () => Promise<void>
  /** SIGKILL: the receiver dies without closing anything gracefully. */
  kill: () => Promise<void>
  /** SIGTERM and wait; the tmp dir is removed unless `keepDir`. */
  stop: (keepDir?: boolean) => Promise<void>
  running: () => boolean
}

export function rsyslogdPath (): string | null {
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd', '/usr/local/sbin/rsyslogd']) if (existsSync(p)) return p
  const r = spawnSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null
}

export async function freeTcpPort (): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  return port
}

export async function freeUdpPort (): Promise<number> {
  const s = createSocket('udp4')
  s.bind(0, '127.0.0.1')
  await once(s, 'listening')
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

function openssl (dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`)
}

/** A test CA, a server certificate for 127.0.0.1/localhost and a client certificate (EC P-256: fast to generate). */
function makeTlsFiles (dir: string): TlsFiles {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=netconsd test CA'])
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=unrelated CA'])
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const who of ['server', 'client']) {
    openssl(dir, ['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'netconsd-client'}`])
    openssl(dir, ['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', '-extfile', `${who}.ext`])
  }
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    otherCa: join(dir, 'other-ca.pem')
  }
}

function configText (dir: string, o: RsyslogOptions, ports: { udp: number, tcp: number, tls: number }, tls: TlsFiles | null): string {
  const lines: string[] = []
  // processInternalMessages: otherwise rsyslogd hands its own messages to syslog(3), i.e. /dev/log.
  const g = [`workDirectory="${dir}"`, 'processInternalMessages="on"', ...(o.maxMessageSize === null ? [] : [`maxMessageSize="${o.maxMessageSize ?? '256k'}"`]), `parser.escapeControlCharactersOnReceive="${o.escapeControlCharacters === true ? 'on' : 'off'}"`]
  if (tls !== null) {
    g.push('defaultNetstreamDriver="gtls"', `defaultNetstreamDriverCAFile="${tls.ca}"`,
      `defaultNetstreamDriverCertFile="${tls.serverCert}"`, `defaultNetstreamDriverKeyFile="${tls.serverKey}"`)
  }
  lines.push(`global(${g.join(' ')})`)
  if (o.udp === true) {
    lines.push('module(load="imudp")', `input(type="imudp" address="127.0.0.1" port="${ports.udp}")`)
  }
  if (tls !== null) {
    const auth = o.tlsClientAuth === true ? 'x509/certvalid' : 'anon'
    lines.push(`module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="${auth}" maxSessions="50")`,
      `input(type="imtcp" address="127.0.0.1" port="${ports.tls}")`)
  } else if (o.tcp === true) {
    lines.push('module(load="imtcp" maxSessions="50")', `input(type="imtcp" address="127.0.0.1" port="${ports.tcp}")`)
  }
  const props: Array<[string, string]> = [
    ['hostname', 'hostname'], ['appname', 'app-name'], ['procid', 'procid'], ['msgid', 'msgid'],
    ['severity', 'syslogseverity'], ['facility', 'syslogfacility'], ['sd', 'structured-data'], ['msg', 'msg'],
    ['version', 'protocol-version'], ['input', 'inputname']
  ]
  lines.push('template(name="parsed" type="list" option.jsonf="on") {')
  for (const [out, name] of props) lines.push(`  property(outname="${out}" name="${name}" format="jsonf")`)
  lines.push('  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")')
  lines.push('}')
  lines.push(`if $inputname == "rsyslogd" then { action(type="omfile" file="${join(dir, 'internal.log')}") stop }`)
  lines.push(`action(type="omfile" file="${join(dir, 'out.jsonl')}" template="parsed" flushOnTXEnd="on")`)
  return lines.join('\n') + '\n'
}

/** Polls `cond` (sync or async) every 25 ms; `what` is built only when it times out. Shared by the peer helpers. */
export async function waitUntil (cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/** Starts rsyslogd, or returns null when it is not installed (the caller skips). */
export async function startRsyslog (o: RsyslogOptions): Promise<Rsyslog | null> {
  const bin = rsyslogdPath()
  if (bin === null) return null
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-rsyslog-'))
  const tlsFiles = o.tls === true ? makeTlsFiles(dir) : null
  const ports = {
    udp: o.udp === true ? await freeUdpPort() : 0,
    tcp: o.tcp === true ? await freeTcpPort() : 0,
    tls: o.tls === true ? await freeTcpPort() : 0
  }
  const conf = join(dir, 'rsyslog.conf')
  writeFileSync(conf, configText(dir, o, ports, tlsFiles))
  const out = join(dir, 'out.jsonl')
  const internal = join(dir, 'internal.log')
  let child: ChildProcess | null = null
  let stderr = ''

  const messages = (): ParsedMessage[] => {
    if (!existsSync(out)) return []
    // rsyslog may be mid-write: only lines that end in a newline are complete.
    return completeLines(readFileSync(out, 'utf8')).map((l) => {
      const m = JSON.parse(l) as Record<string, string>
      return { ...m, severity: Number(m.severity), facility: Number(m.facility) } as unknown as ParsedMessage
    })
  }

  const start = async (): Promise<void> => {
    const startsBefore = existsSync(internal) ? (readFileSync(internal, 'utf8').match(/\] start/g) ?? []).length : 0
    stderr = ''
    const c = spawn(bin, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
    child = c
    c.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    // rsyslogd logs "[origin software="rsyslogd" ...] start" once its inputs are bound.
    await waitUntil(() => {
      if (c.exitCode !== null) throw new Error(`rsyslogd exited with ${c.exitCode}: ${stderr}`)
      const n = existsSync(internal) ? (readFileSync(internal, 'utf8').match(/\] start/g) ?? []).length : 0
      return n > startsBefore
    }, 10_000, `rsyslogd to start (${stderr})`)
    if (ports.tcp !== 0) await waitUntil(async () => await canConnect(ports.tcp), 5000, 'imtcp to listen')
    if (ports.tls !== 0) await waitUntil(async () => await canConnect(ports.tls), 5000, 'imtcp (tls) to listen')
  }

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const c = child
    child = null
    if (c === null || c.exitCode !== null || c.signalCode !== null) return
    const exited = once(c, 'exit')
    c.kill(sig)
    await exited
  }

  await start()
  return {
    dir,
    udpPort: ports.udp,
    tcpPort: ports.tcp,
    tlsPort: ports.tls,
    tlsFiles,
    messages,
    waitFor: async (n, timeoutMs = 10_000) => {
      await waitUntil(() => messages().length >= n, timeoutMs, `${n} messages at rsyslog (have ${messages().length})`)
      return messages()
    },
    start,
    kill: async () => { await signal('SIGKILL') },
    stop: async (keepDir = false) => {
      await signal('SIGTERM')
      if (!keepDir) rmSync(dir, { recursive: true, force: true })
    },
    running: () => child !== null && child.exitCode === null && child.signalCode === null
  }
}

/** The complete lines of a file another process is appending to (a trailing partial line is left out). */
export function completeLines (text: string): string[] {
  const lines = text.split('\n')
  lines.pop()
  return lines.filter((l) => l !== '')
}
