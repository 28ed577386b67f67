import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  parseSnmp, parseSnmp6, parseProcNetUdp, sumByPort, udpCountersFromSnmp, udpCountersFromSnmp6, readKernelUdpStats
} from '../../src/metrics/proc-net.js'

// Captured on Linux 6.18 (the dev VM), values edited.
const SNMP = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 1 64 3117 0 0 0 0 0 3117 3007 0 0 0 0 0 0 0 0 0 3007
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 85 1 12 86 11 0 1 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 9 9 9 9 9 9 9 9 9
`
const SNMP6 = `Ip6InReceives                   \t0
Udp6InDatagrams                 \t500
Udp6NoPorts                     \t0
Udp6InErrors                    \t30
Udp6OutDatagrams                \t0
Udp6RcvbufErrors                \t29
UdpLite6RcvbufErrors            \t7
`
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
15243: 00000000000000000000000000000000:05EA 00000000000000000000000000000000:0000 07 00000000:00001000 00:00000000 00000000   998        0 10666 2 00000000773ac878 123
 1234: 00000000000000000000000001000000:3E80 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 10667 2 00000000773ac879 5
`

test('parseSnmp pairs header and value lines per protocol', () => {
  const s = parseSnmp(SNMP)
  assert.equal(s.Udp?.RcvbufErrors, 11)
  assert.equal(s.Udp?.InErrors, 12)
  assert.equal(s.UdpLite?.RcvbufErrors, 9, 'UdpLite is not confused with Udp')
  assert.equal(s.Ip?.DefaultTTL, 64)
  assert.deepEqual(udpCountersFromSnmp(SNMP), { inDatagrams: 85, inErrors: 12, rcvbufErrors: 11 })
  assert.equal(udpCountersFromSnmp('Ip: A\nIp: 1\n'), null)
})

test('parseSnmp6 reads name/value lines', () => {
  const s = parseSnmp6(SNMP6)
  assert.equal(s.Udp6RcvbufErrors, 29)
  assert.deepEqual(udpCountersFromSnmp6(SNMP6), { inDatagrams: 500, inErrors: 30, rcvbufErrors: 29 })
  assert.equal(udpCountersFromSnmp6(''), null)
})

test('parseProcNetUdp reads port, queues and drops of IPv6 sockets', () => {
  const e = parseProcNetUdp(UDP6)
  assert.equal(e.length, 2)
  assert.deepEqual(e[0], {
    localAddressHex: '00000000000000000000000000000000', localPort: 1514, txQueueBytes: 0, rxQueueBytes: 4096, uid: 998, inode: 10666, drops: 123
  })
  assert.equal(e[1]!.localPort, 16000)
  assert.deepEqual(sumByPort(e, [1514, 9999]), [{ port: 1514, sockets: 1, drops: 123, rxQueueBytes: 4096 }])
})

test('the parsers never throw on arbitrary text', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (t) => {
    parseSnmp(t)
    parseSnmp6(t)
    parseProcNetUdp(t)
  }))
})

test('readKernelUdpStats on this machine returns numbers or nulls, never throws', async () => {
  const k = await readKernelUdpStats([1])
  for (const c of [k.ipv4, k.ipv6]) {
    if (c !== null) assert.ok(Number.isInteger(c.rcvbufErrors) && c.rcvbufErrors >= 0)
  }
  assert.ok(Array.isArray(k.ports))
})
