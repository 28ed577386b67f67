import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Metrics, OTHER_HOST } from '../../src/metrics/metrics.js'
import { emptyNcrxCounters, type NcrxCounters, type HostStats } from '../../src/metrics/snapshot.js'
import { LATENCY_BUCKETS_MS } from '../../src/sinks/delivery/runner.js'

/** Exposition text → { 'name{a="b"}': value } (labels in the order prom-client prints them). */
export function parseExposition (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const sp = line.lastIndexOf(' ')
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)))
  }
  return out
}

async function scrape (m: Metrics): Promise<Map<string, number>> {
  return parseExposition((await m.render()).body)
}

function ncrx (over: Partial<NcrxCounters> = {}): NcrxCounters {
  return { ...emptyNcrxCounters(), ...over }
}

const host = (address: string, over: Partial<HostStats> = {}): HostStats =>
  ({ address, lost: 0, duplicates: 0, oos: 0, resets: 0, ...over })

test('counters are the sum over workers of each worker\'s cumulative values', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { ncrx: ncrx({ datagrams: 10, extended: 7, legacy: 3, malformed: { bad_header: 2 }, lost: 1 }) })
  m.update(1, { ncrx: ncrx({ datagrams: 5, extended: 5, drops: { host_evicted: 4 } }) })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_ncrx_datagrams_total'), 15)
  assert.equal(s.get('netconsd_messages_total{format="extended"}'), 12)
  assert.equal(s.get('netconsd_messages_total{format="legacy"}'), 3)
  assert.equal(s.get('netconsd_datagrams_malformed_total{reason="bad_header"}'), 2)
  assert.equal(s.get('netconsd_messages_dropped_total{reason="host_evicted"}'), 4)
  assert.equal(s.get('netconsd_messages_lost_total'), 1)
})

test('the ncrx layer\'s own counters object (a superset) can be passed as it is', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { ncrx: { ...ncrx({ datagrams: 3 }), fragments: 2, hostsSeen: 5, hostsForgotten: 1, somethingNew: 7 } as NcrxCounters })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_ncrx_fragments_total'), 2)
  assert.equal(s.get('netconsd_ncrx_hosts_created_total'), 5)
  assert.equal(s.get('netconsd_ncrx_hosts_forgotten_total'), 1)
})

test('a snapshot adds only the increase since the same source\'s previous one', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { incarnation: 1, ncrx: ncrx({ datagrams: 10 }) })
  m.update(0, { incarnation: 1, ncrx: ncrx({ datagrams: 25 }) })
  m.update(0, { incarnation: 1, ncrx: ncrx({ datagrams: 25 }) })
  assert.equal((await scrape(m)).get('netconsd_ncrx_datagrams_total'), 25)
})

test('a restarted worker (new incarnation, counters from zero) never makes a counter go down', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { incarnation: 1, ncrx: ncrx({ datagrams: 100 }), rules: { oops: 4 } })
  m.update(0, { incarnation: 2, ncrx: ncrx({ datagrams: 10 }), rules: { oops: 1 } })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_ncrx_datagrams_total'), 110)
  assert.equal(s.get('netconsd_rule_matches_total{rule="oops"}'), 5)
  // Same incarnation but the value fell: treated as a silent restart, not as a negative increase.
  m.update(0, { incarnation: 2, ncrx: ncrx({ datagrams: 3 }) })
  assert.equal((await scrape(m)).get('netconsd_ncrx_datagrams_total'), 113)
})

test('ingest and admission drops share one family, labelled by stage and reason', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update('main', {
    ingest: { datagrams: 50, bytes: 5000, dropped: { worker_queue_full: 2 } },
    admission: { denied: 3, notAllowed: 4, rateLimited: 5, exempted: 1, sourceEvictions: 6, sources: 7 }
  })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_datagrams_received_total'), 50)
  assert.equal(s.get('netconsd_received_bytes_total'), 5000)
  assert.equal(s.get('netconsd_datagrams_dropped_total{stage="ingest",reason="worker_queue_full"}'), 2)
  assert.equal(s.get('netconsd_datagrams_dropped_total{stage="admission",reason="denied"}'), 3)
  assert.equal(s.get('netconsd_datagrams_dropped_total{stage="admission",reason="not_allowed"}'), 4)
  assert.equal(s.get('netconsd_datagrams_dropped_total{stage="admission",reason="rate_limited"}'), 5)
  assert.equal(s.get('netconsd_admission_exempted_total'), 1)
  assert.equal(s.get('netconsd_admission_source_evictions_total'), 6)
  assert.equal(s.get('netconsd_admission_sources'), 7)
})

test('gauges come from the latest snapshot per worker and disappear when the worker is retired', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { ncrx: ncrx({ datagrams: 9, hosts: 3, heldMessages: 4, heldBytes: 400 }), queueBytes: 1100 })
  m.update(1, { ncrx: ncrx({ hosts: 5 }) })
  m.update(0, { ncrx: ncrx({ datagrams: 9, hosts: 2, heldMessages: 0, heldBytes: 0 }) })
  let s = await scrape(m)
  assert.equal(s.get('netconsd_ncrx_hosts{worker="0"}'), 2)
  assert.equal(s.get('netconsd_ncrx_hosts{worker="1"}'), 5)
  assert.equal(s.get('netconsd_ncrx_held_bytes{worker="0"}'), 0)
  assert.equal(s.get('netconsd_worker_queue_depth{worker="0"}'), undefined, 'no such series: nothing measures it')
  assert.equal(s.get('netconsd_worker_queue_bytes{worker="0"}'), undefined, 'the latest snapshot had none')
  m.retire(1)
  s = await scrape(m)
  assert.equal(s.get('netconsd_ncrx_hosts{worker="1"}'), undefined)
  assert.equal(s.get('netconsd_ncrx_datagrams_total'), 9, 'counted totals stay after retire')
})

test('sink stats: counters, drops by reason, queue depth summed over workers, latency histogram in seconds', async () => {
  const m = new Metrics({ processMetrics: false })
  const buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)
  // Three attempts: 3 ms, 7 ms, 20 s (cumulative buckets: <=5: 1, <=10: 2, ... +Inf: 3).
  LATENCY_BUCKETS_MS.forEach((b, i) => { buckets[i] = (b >= 3 ? 1 : 0) + (b >= 7 ? 1 : 0) + (b >= 20_000 ? 1 : 0) })
  buckets[LATENCY_BUCKETS_MS.length] = 3
  m.update(0, {
    sinks: {
      otlp: { sent: 10, failed: 2, retried: 4, dropped: { queue_full: 1, rejected: 2 }, queueDepth: 3, latencyMs: { count: 3, sumMs: 20_010, buckets } }
    }
  })
  m.update(1, { sinks: { otlp: { sent: 1, failed: 0, retried: 0, dropped: {}, queueDepth: 4, buffer: { records: 5, bytes: 500, maxBytes: 1000 } } } })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_sink_sent_records_total{sink="otlp"}'), 11)
  assert.equal(s.get('netconsd_sink_failed_records_total{sink="otlp"}'), 2)
  assert.equal(s.get('netconsd_sink_retries_total{sink="otlp"}'), 4)
  assert.equal(s.get('netconsd_sink_dropped_records_total{sink="otlp",reason="queue_full"}'), 1)
  assert.equal(s.get('netconsd_sink_dropped_records_total{sink="otlp",reason="rejected"}'), 2)
  assert.equal(s.get('netconsd_sink_queue_records{sink="otlp"}'), 7)
  assert.equal(s.get('netconsd_sink_buffer_records{sink="otlp"}'), 5)
  assert.equal(s.get('netconsd_sink_buffer_capacity_bytes{sink="otlp"}'), 1000)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_bucket{sink="otlp",le="0.005"}'), 1)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_bucket{sink="otlp",le="0.01"}'), 2)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_bucket{sink="otlp",le="10"}'), 2)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_bucket{sink="otlp",le="+Inf"}'), 3)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_count{sink="otlp"}'), 3)
  assert.equal(s.get('netconsd_sink_send_duration_seconds_sum{sink="otlp"}'), 20.01)
})

test('per-host series: only hosts with problems get one, capped, the rest summed as "other", all monotonic', async () => {
  const m = new Metrics({ processMetrics: false, maxHostSeries: 2 })
  const clean = Array.from({ length: 50 }, (_, i) => host(`::ffff:10.0.0.${i + 100}`))
  m.update(0, { hosts: [...clean, host('::ffff:10.0.0.1', { lost: 3 }), host('::ffff:10.0.0.2', { name: 'web2', oos: 1 })] })
  let s = await scrape(m)
  assert.equal(s.get('netconsd_host_messages_lost_total{host="::ffff:10.0.0.1"}'), 3)
  assert.equal(s.get('netconsd_host_messages_oos_total{host="web2"}'), 1, 'the inventory name is the label when known')
  assert.equal(s.get('netconsd_host_series'), 2, 'clean hosts get no series')
  // Two more problem hosts: the cap is reached, so they are summed as "other".
  m.update(0, {
    hosts: [host('::ffff:10.0.0.1', { lost: 3 }), host('::ffff:10.0.0.2', { name: 'web2', oos: 1 }),
      host('::ffff:10.0.0.3', { lost: 5 }), host('::ffff:10.0.0.4', { lost: 7, resets: 1 })]
  })
  s = await scrape(m)
  assert.equal(s.get(`netconsd_host_messages_lost_total{host="${OTHER_HOST}"}`), 12)
  assert.equal(s.get(`netconsd_host_stream_resets_total{host="${OTHER_HOST}"}`), 1)
  assert.equal(s.get('netconsd_host_messages_lost_total{host="::ffff:10.0.0.3"}'), undefined)
  // A host forgotten by ncrx and seen again starts from zero: its new losses are added, nothing goes down.
  m.update(0, { hosts: [host('::ffff:10.0.0.1', { lost: 2 }), host('::ffff:10.0.0.3', { lost: 6 })] })
  s = await scrape(m)
  assert.equal(s.get('netconsd_host_messages_lost_total{host="::ffff:10.0.0.1"}'), 5)
  assert.equal(s.get(`netconsd_host_messages_lost_total{host="${OTHER_HOST}"}`), 13)
  assert.equal(s.get('netconsd_host_series'), 2)
  assert.equal(s.get('netconsd_host_series_limit'), 2)
})

test('series appear at zero as soon as a reason is reported, so alerts on rate() work from the start', async () => {
  const m = new Metrics({ processMetrics: false })
  m.update(0, { incidents: { panic: 0, oops: 2 } })
  const s = await scrape(m)
  assert.equal(s.get('netconsd_incidents_total{type="panic"}'), 0)
  assert.equal(s.get('netconsd_incidents_total{type="oops"}'), 2)
})

test('label values are escaped; lifecycle events are counted', async () => {
  const m = new Metrics({ processMetrics: false, version: '1.2.3' })
  m.update(0, { rules: { 'we"ird\\rule': 1 } })
  m.workerRestarted(1)
  m.configReloaded(false)
  m.configReloaded(true, 1_700_000_000_000)
  const text = (await m.render()).body
  assert.match(text, /netconsd_rule_matches_total\{rule="we\\"ird\\\\rule"\} 1/)
  const s = parseExposition(text)
  assert.equal(s.get('netconsd_worker_restarts_total{worker="1"}'), 1)
  assert.equal(s.get('netconsd_config_reloads_total{result="failure"}'), 1)
  assert.equal(s.get('netconsd_config_reloads_total{result="success"}'), 1)
  assert.equal(s.get('netconsd_config_last_reload_success_timestamp_seconds'), 1_700_000_000)
  assert.equal(s.get(`netconsd_build_info{version="1.2.3",node_version="${process.version}"}`), 1)
})

test('kernel UDP counters are read from procfs at scrape time', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'netconsd-proc-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  await mkdir(join(root, 'net'))
  await writeFile(join(root, 'net', 'snmp'), [
    'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
    'Udp: 1000 0 42 86 40 0 2 0 0',
    ''
  ].join('\n'))
  await writeFile(join(root, 'net', 'snmp6'), 'Udp6InDatagrams                 \t77\nUdp6InErrors                    \t5\nUdp6RcvbufErrors                \t4\n')
  await writeFile(join(root, 'net', 'udp'), [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ',
    '15242: 00000000:05EA 00000000:0000 07 00000000:00000200 00:00000000 00000000   999        0 10665 2 00000000cb780821 17        ',
    '15243: 00000000:05EA 00000000:0000 07 00000000:00000000 00:00000000 00000000   999        0 10666 2 00000000cb780822 3         ',
    '15244: 0100007F:3E7F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 10667 2 00000000cb780823 99        '
  ].join('\n'))
  await writeFile(join(root, 'net', 'udp6'), '')
  const m = new Metrics({ processMetrics: false, procRoot: root, udpPorts: [1514] })
  let s = await scrape(m)
  assert.equal(s.get('netconsd_kernel_udp_receive_buffer_errors_total{family="ipv4"}'), 40)
  assert.equal(s.get('netconsd_kernel_udp_receive_buffer_errors_total{family="ipv6"}'), 4)
  assert.equal(s.get('netconsd_kernel_udp_in_errors_total{family="ipv4"}'), 42)
  assert.equal(s.get('netconsd_socket_drops_total{port="1514"}'), 20)
  assert.equal(s.get('netconsd_socket_receive_queue_bytes{port="1514"}'), 512)
  m.setUdpPorts([15999])
  s = await scrape(m)
  assert.equal(s.get('netconsd_socket_drops_total{port="15999"}'), 99)
  assert.equal(s.get('netconsd_socket_drops_total{port="1514"}'), undefined)
})

test('a missing procfs yields no kernel series and no error', async () => {
  const m = new Metrics({ processMetrics: false, procRoot: '/nonexistent-proc', udpPorts: [1514] })
  const s = await scrape(m)
  assert.equal([...s.keys()].some((k) => k.startsWith('netconsd_kernel_') || k.startsWith('netconsd_socket_')), false)
})

test('every exported name follows Prometheus conventions (netconsd_ prefix, counters end in _total)', async () => {
  const m = new Metrics({ processMetrics: false })
  const text = (await m.render()).body
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!] as const)
  assert.ok(types.length > 30)
  for (const [name, type] of types) {
    assert.match(name, /^netconsd_[a-z0-9_]+$/, name)
    if (type === 'counter') assert.match(name, /_total$/, name)
    else assert.doesNotMatch(name, /_total$/, name)
  }
})

test('process metrics are on by default', async () => {
  const m = new Metrics()
  const s = await scrape(m)
  assert.ok(s.has('process_cpu_user_seconds_total'))
})
