/**
 * The kernel's own UDP drop counters, read from procfs.
 *
 * A datagram the kernel drops because our socket's receive buffer was full never reaches the
 * daemon, so the only place it is counted is the kernel: system-wide (per network namespace)
 * in `/proc/net/snmp` (`Udp: ... InErrors ... RcvbufErrors`) and `/proc/net/snmp6`
 * (`Udp6RcvbufErrors`), and per socket in the last column (`drops`, `sk_drops`) of
 * `/proc/net/udp` and `/proc/net/udp6` (see the kernel's `net/ipv4/udp.c` `udp4_format_sock`).
 *
 * The parsers are pure functions over the file text so they can be tested on samples; the
 * readers tolerate missing files (non-Linux, restricted /proc) by returning null.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface UdpSnmpCounters {
  inDatagrams: number
  inErrors: number
  rcvbufErrors: number
}

/**
 * Parses `/proc/net/snmp`: pairs of lines `Proto: Name1 Name2 ...` / `Proto: v1 v2 ...`.
 * Returns `{ Udp: { InDatagrams: 85, ... }, Ip: {...}, ... }`.
 */
export function parseSnmp (text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  const lines = text.split('\n')
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i]!
    const colon = head.indexOf(':')
    if (colon <= 0) continue
    const proto = head.slice(0, colon)
    const next = lines[i + 1]!
    if (!next.startsWith(proto + ':')) continue
    const names = head.slice(colon + 1).trim().split(/\s+/)
    const values = next.slice(colon + 1).trim().split(/\s+/)
    // The header line is the one whose fields are not numbers.
    if (names.length === 0 || /^-?\d+$/.test(names[0]!)) continue
    const rec: Record<string, number> = {}
    names.forEach((n, j) => {
      const v = Number(values[j])
      if (Number.isFinite(v)) rec[n] = v
    })
    out[proto] = rec
    i++
  }
  return out
}

/** Parses `/proc/net/snmp6`: one `Name<whitespace>value` per line. */
export function parseSnmp6 (text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line)
    if (m !== null) out[m[1]!] = Number(m[2])
  }
  return out
}

export function udpCountersFromSnmp (text: string): UdpSnmpCounters | null {
  const udp = parseSnmp(text).Udp
  if (udp === undefined) return null
  return { inDatagrams: udp.InDatagrams ?? 0, inErrors: udp.InErrors ?? 0, rcvbufErrors: udp.RcvbufErrors ?? 0 }
}

export function udpCountersFromSnmp6 (text: string): UdpSnmpCounters | null {
  const s = parseSnmp6(text)
  if (s.Udp6InDatagrams === undefined) return null
  return { inDatagrams: s.Udp6InDatagrams, inErrors: s.Udp6InErrors ?? 0, rcvbufErrors: s.Udp6RcvbufErrors ?? 0 }
}

export interface UdpSocketEntry {
  /** Local address as the kernel prints it (hex, host byte order per 32-bit word). */
  localAddressHex: string
  localPort: number
  /** Bytes waiting in the receive queue. */
  rxQueueBytes: number
  txQueueBytes: number
  uid: number
  inode: number
  /** Datagrams the kernel dropped for this socket (buffer full, checksum, filter). */
  drops: number
}

/**
 * Parses `/proc/net/udp` or `/proc/net/udp6`:
 * `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops`.
 */
export function parseProcNetUdp (text: string): UdpSocketEntry[] {
  const out: UdpSocketEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    // 13 fields; the first is "N:" (the header line starts with "sl").
    if (f.length < 13 || !/^\d+:$/.test(f[0]!)) continue
    const local = f[1]!
    const colon = local.lastIndexOf(':')
    const queues = f[4]!.split(':')
    const entry: UdpSocketEntry = {
      localAddressHex: local.slice(0, colon),
      localPort: parseInt(local.slice(colon + 1), 16),
      txQueueBytes: parseInt(queues[0] ?? '0', 16),
      rxQueueBytes: parseInt(queues[1] ?? '0', 16),
      uid: Number(f[7]),
      inode: Number(f[9]),
      drops: Number(f[12])
    }
    if (Number.isFinite(entry.localPort) && Number.isFinite(entry.drops)) out.push(entry)
  }
  return out
}

export interface PortUdpStats {
  port: number
  /** Sockets bound to the port (one per SO_REUSEPORT listener, per address family file). */
  sockets: number
  drops: number
  rxQueueBytes: number
}

/** Sums socket entries per local port, for the given ports only (a port with no socket is omitted). */
export function sumByPort (entries: Iterable<UdpSocketEntry>, ports: Iterable<number>): PortUdpStats[] {
  const want = new Map<number, PortUdpStats>()
  for (const p of ports) want.set(p, { port: p, sockets: 0, drops: 0, rxQueueBytes: 0 })
  for (const e of entries) {
    const s = want.get(e.localPort)
    if (s === undefined) continue
    s.sockets++
    s.drops += e.drops
    s.rxQueueBytes += e.rxQueueBytes
  }
  return [...want.values()].filter((s) => s.sockets > 0)
}

export interface KernelUdpStats {
  ipv4: UdpSnmpCounters | null
  ipv6: UdpSnmpCounters | null
  ports: PortUdpStats[]
}

async function readOrNull (path: string): Promise<string | null> {
  try { return await readFile(path, 'utf8') } catch { return null }
}

/** Reads all kernel UDP counters; `procRoot` is `/proc` except in tests. Never throws. */
export async function readKernelUdpStats (ports: readonly number[], procRoot = '/proc'): Promise<KernelUdpStats> {
  const [snmp, snmp6, udp, udp6] = await Promise.all([
    readOrNull(join(procRoot, 'net', 'snmp')),
    readOrNull(join(procRoot, 'net', 'snmp6')),
    ports.length > 0 ? readOrNull(join(procRoot, 'net', 'udp')) : null,
    ports.length > 0 ? readOrNull(join(procRoot, 'net', 'udp6')) : null
  ])
  const entries = [...parseProcNetUdp(udp ?? ''), ...parseProcNetUdp(udp6 ?? '')]
  return {
    ipv4: snmp === null ? null : udpCountersFromSnmp(snmp),
    ipv6: snmp6 === null ? null : udpCountersFromSnmp6(snmp6),
    ports: sumByPort(entries, ports)
  }
}
