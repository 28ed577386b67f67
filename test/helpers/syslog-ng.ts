/**
 * A real syslog-ng for tests, the second syslog receiver beside rsyslog (test/helpers/rsyslog.ts):
 * a different parser, so an encoding both accept is not one receiver's leniency. Debian's
 * syslog-ng and rsyslog packages conflict, so `scripts/peers/syslog-ng.sh` (run by `.ci/run`)
 * unpacks syslog-ng into /opt/netconsd-peers/syslog-ng (or <repo>/.peers/syslog-ng) with a wrapper
 * that sets its library and module paths; an installed `syslog-ng` on PATH works as well.
 *
 * Started in the foreground (`-F`) with its own config, persist file, pidfile and control socket
 * in a tmp dir, and `keep-hostname(yes)` so HOST is the message's HOSTNAME field, not the sender's
 * address. Every message received is written as one JSON object per line (`format-json`) with what
 * syslog-ng parsed: HOST, PROGRAM, PID, MSGID, severity, facility, MSG, the SD params one by one
 * (`.SDATA.<id>.<name>`) and SDATA as syslog-ng serialises it again.
 *
 *   const s = await startSyslogNg({ tcp: true })
 *   if (s === null) return t.skip('syslog-ng not installed')
 *   ... send to s.tcpPort ...
 *   const msgs = await s.waitFor(3)
 *   await s.stop()
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './paths.js'
import { canConnect, completeLines, freeTcpPort, freeUdpPort, waitUntil } from './rsyslog.js'

export interface SyslogNgMessage {
  host: string
  program: string
  pid: string
  msgid: string
  severity: number
  facility: number
  msg: string
  /** `$ISODATE` with milliseconds. */
  isodate: string
  /** Structured data as syslog-ng parsed it: SD-ID → param name → value (escaping undone). */
  sd: Record<string, Record<string, string>>
  /** `$SDATA`: the parsed structured data serialised again by syslog-ng. */
  sdata: string
  /** Which source got it: `s_tcp`, `s_udp` or `s_bsd`. */
  source: string
}

export interface SyslogNgOptions {
  /** `syslog(transport(tcp))`: RFC 5424 with RFC 6587 octet-counting framing. */
  tcp?: boolean
  /** `syslog(transport(udp))`: RFC 5424, one message per datagram (RFC 5426). */
  udp?: boolean
  /** `network(transport(udp))` without `syslog-protocol`: the BSD (RFC 3164) parser. */
  bsdUdp?: boolean
  /** `log-msg-size()`; default 65536 here. */
  logMsgSize?: number
}

export interface SyslogNg {
  dir: string
  tcpPort: number
  udpPort: number
  bsdUdpPort: number
  messages: () => SyslogNgMessage[]
  /** Waits until at least `n` messages were written (or throws after `timeoutMs`). */
  waitFor: (n: number, timeoutMs?: number) => Promise<SyslogNgMessage[]>
  /** syslog-ng's own log (the `internal()` source). */
  internalLog: () => string
  stop: (keepDir?: boolean) => Promise<void>
}

function runs (bin: string): boolean {
  return spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0
}

/** The syslog-ng to run (the peers wrapper first, then PATH), or null when there is none that starts. */
export function syslogNgPath (): string | null {
  const candidates = [
    process.env.NETCONSD_SYSLOG_NG,
    process.env.NETCONSD_PEERS_DIR === undefined ? undefined : join(process.env.NETCONSD_PEERS_DIR, 'syslog-ng', 'bin', 'syslog-ng'),
    '/opt/netconsd-peers/syslog-ng/bin/syslog-ng',
    join(repoRoot, '.peers', 'syslog-ng', 'bin', 'syslog-ng'),
    '/usr/sbin/syslog-ng'
  ]
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c) && runs(c)) return c
  return null
}

/** `major.minor` for the config's `@version:` line (from `--version`'s "Installer-Version: 3.38.1"). */
function configVersion (bin: string): string {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout
  const m = /Installer-Version:\s*(\d+\.\d+)/.exec(out)
  if (m === null) throw new Error(`cannot read the version from ${bin} --version: ${out}`)
  return m[1]!
}

function configText (dir: string, version: string, o: SyslogNgOptions, ports: { tcp: number, udp: number, bsd: number }): string {
  // format-json: every value JSON-escaped by syslog-ng itself. `--key .SDATA.* --shift 1` adds the
  // parsed SD params as a nested object under "SDATA"; `rawsdata` is $SDATA as one string.
  const fields = ['host=$HOST', 'program=$PROGRAM', 'pid=$PID', 'msgid=$MSGID', 'severity=int($LEVEL_NUM)',
    'facility=int($FACILITY_NUM)', 'msg=$MSG', 'isodate=$ISODATE', 'rawsdata=$SDATA', 'source=$SOURCE']
  const template = `$(format-json --scope none ${fields.join(' ')} --key .SDATA.* --shift 1)\\n`
  const sources: string[] = []
  if (o.tcp === true) sources.push(`source s_tcp { syslog(ip("127.0.0.1") port(${ports.tcp}) transport("tcp") max-connections(50)); };`)
  if (o.udp === true) sources.push(`source s_udp { syslog(ip("127.0.0.1") port(${ports.udp}) transport("udp")); };`)
  if (o.bsdUdp === true) sources.push(`source s_bsd { network(ip("127.0.0.1") port(${ports.bsd}) transport("udp")); };`)
  const names = sources.map((s) => /source (\S+)/.exec(s)![1]!)
  return [
    `@version: ${version}`,
    `options { keep-hostname(yes); use-dns(no); dns-cache(no); stats-freq(0); frac-digits(3); log-msg-size(${o.logMsgSize ?? 65536}); };`,
    ...sources,
    'source s_internal { internal(); };',
    `destination d_out { file("${join(dir, 'out.jsonl')}" template("${template.replace(/"/g, '\\"')}") flush-lines(1)); };`,
    `destination d_internal { file("${join(dir, 'internal.log')}"); };`,
    `log { ${names.map((n) => `source(${n});`).join(' ')} destination(d_out); };`,
    'log { source(s_internal); destination(d_internal); };'
  ].join('\n') + '\n'
}

interface RawLine {
  host?: string
  program?: string
  pid?: string
  msgid?: string
  severity?: number
  facility?: number
  msg?: string
  isodate?: string
  rawsdata?: string
  source?: string
  SDATA?: Record<string, Record<string, string>>
}

/** Starts syslog-ng, or returns null when it is not installed (the caller skips). */
export async function startSyslogNg (o: SyslogNgOptions): Promise<SyslogNg | null> {
  const bin = syslogNgPath()
  if (bin === null) return null
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-syslog-ng-'))
  const ports = {
    tcp: o.tcp === true ? await freeTcpPort() : 0,
    udp: o.udp === true ? await freeUdpPort() : 0,
    bsd: o.bsdUdp === true ? await freeUdpPort() : 0
  }
  const conf = join(dir, 'syslog-ng.conf')
  writeFileSync(conf, configText(dir, configVersion(bin), o, ports))
  const out = join(dir, 'out.jsonl')
  const internal = join(dir, 'internal.log')
  const internalLog = (): string => existsSync(internal) ? readFileSync(internal, 'utf8') : ''

  const messages = (): SyslogNgMessage[] => {
    if (!existsSync(out)) return []
    return completeLines(readFileSync(out, 'utf8')).map((l) => {
      const m = JSON.parse(l) as RawLine
      return {
        host: m.host ?? '',
        program: m.program ?? '',
        pid: m.pid ?? '',
        msgid: m.msgid ?? '',
        severity: m.severity ?? -1,
        facility: m.facility ?? -1,
        msg: m.msg ?? '',
        isodate: m.isodate ?? '',
        sd: m.SDATA ?? {},
        sdata: m.rawsdata ?? '',
        source: m.source ?? ''
      }
    })
  }

  let stderr = ''
  const child: ChildProcess = spawn(bin, ['-F', '-f', conf, `--persist-file=${join(dir, 'syslog-ng.persist')}`,
    `--pidfile=${join(dir, 'syslog-ng.pid')}`, `--control=${join(dir, 'syslog-ng.ctl')}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const stop = async (keepDir = false): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
    if (!keepDir) rmSync(dir, { recursive: true, force: true })
  }
  try {
    // "syslog-ng starting up" is logged once the config is loaded and every source is bound.
    await waitUntil(() => {
      if (child.exitCode !== null) throw new Error(`syslog-ng exited with ${child.exitCode}: ${stderr}`)
      return internalLog().includes('syslog-ng starting up')
    }, 10_000, () => `syslog-ng to start (${stderr})`)
    if (ports.tcp !== 0) await waitUntil(async () => await canConnect(ports.tcp), 5000, () => 'the tcp source to listen')
  } catch (err) {
    await stop()
    throw err
  }
  return {
    dir,
    tcpPort: ports.tcp,
    udpPort: ports.udp,
    bsdUdpPort: ports.bsd,
    messages,
    internalLog,
    waitFor: async (n, timeoutMs = 10_000) => {
      await waitUntil(() => messages().length >= n, timeoutMs, () => `${n} messages at syslog-ng (have ${messages().length})`)
      return messages()
    },
    stop
  }
}
