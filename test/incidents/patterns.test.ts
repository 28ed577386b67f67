/**
 * Line classification and report parsing on their own: titles, die headers, end rules, frames,
 * legacy prefixes; and fast-check properties (nothing throws on arbitrary input; noise lines
 * interleaved into a report never change its frames or signature).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { classifyLine, endsReport } from '../../src/incidents/patterns.js'
import { analyzeReport, bareSymbol, parseFrame, normalizeText } from '../../src/incidents/report.js'
import { splitLines, stripLegacyPrefix } from '../../src/incidents/lines.js'
import { readConsoleFixture } from './helpers.js'

test('titles and markers', () => {
  const cases: Array<[string, unknown]> = [
    ['Kernel panic - not syncing: Fatal exception', { kind: 'start', type: 'panic', end: 'panic' }],
    ['WARNING: CPU: 3 PID: 1 at net/core/dev.c:1 f+0x1/0x2', { kind: 'start', type: 'warn', end: 'trace' }],
    ['WARNING: possible circular locking dependency detected', { kind: 'start', type: 'lockdep', end: 'stack' }],
    ['kernel BUG at mm/slub.c:4321!', { kind: 'start', type: 'bug', end: 'trace' }],
    ['BUG: scheduling while atomic: swapper/0/0/0x00000002', { kind: 'start', type: 'bug', end: 'stack' }],
    ['BUG: unable to handle page fault for address: ffffc90000a3b000', { kind: 'start', type: 'oops', end: 'trace' }],
    ['BUG: KFENCE: out-of-bounds read in test_out_of_bounds_read+0xa8/0x22b', { kind: 'start', type: 'kfence', end: 'banner' }],
    ['BUG: KCSAN: data-race in test_kernel_read / test_kernel_write', { kind: 'start', type: 'kcsan', end: 'banner' }],
    ['watchdog: CPU3: Watchdog detected hard LOCKUP on cpu 4', { kind: 'start', type: 'hard_lockup', end: 'stack' }],
    ['INFO: rcu_sched self-detected stall on CPU', { kind: 'start', type: 'rcu_stall', end: 'idle' }],
    ['rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: {', { kind: 'start', type: 'rcu_stall', end: 'idle' }],
    ['Memory cgroup out of memory: Killed process 1 (x)', null],
    ['java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0', { kind: 'start', type: 'oom', end: 'oom' }],
    ['invalid opcode: 0000 [#1] PREEMPT SMP NOPTI', { kind: 'die', type: 'oops', end: 'trace', count: 1 }],
    ['Oops: invalid opcode: 0000 [#3] PREEMPT SMP NOPTI', { kind: 'die', type: 'oops', end: 'trace', count: 3 }],
    ['Internal error: Oops - BUG: 00000000f2000800 [#1] SMP', { kind: 'die', type: 'bug', end: 'trace', count: 1 }],
    ['------------[ cut here ]------------', { kind: 'pre' }],
    ['==================================================================', { kind: 'pre' }],
    ['sysrq: Show backtrace of all active CPUs', null],
    ['NMI backtrace for cpu 0', null],
    ['INFO: NMI handler (nmi_cpu_backtrace_handler) took too long to run: 7.721 msecs', null],
    ['PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug', null],
    ['Kernel command line: console=ttyS0,115200 panic=1', null]
  ]
  for (const [line, want] of cases) assert.deepEqual(classifyLine(line), want, line)
})

test('end rules', () => {
  assert.equal(endsReport('trace', '---[ end trace 0000000000000000 ]---', false), true)
  assert.equal(endsReport('banner', '---[ end trace ]---', false), true)
  assert.equal(endsReport('panic', 'Rebooting in 1 seconds..', false), true)
  assert.equal(endsReport('panic', '---[ end Kernel panic - not syncing: Fatal exception ]---', false), true)
  assert.equal(endsReport('panic', '---[ end trace 0000000000000000 ]---', false), false)
  assert.equal(endsReport('oom', 'Memory cgroup out of memory: Killed process 1 (x) total-vm:1kB', false), true)
  assert.equal(endsReport('stack', ' </TASK>', true), true)
  assert.equal(endsReport('stack', ' </TASK>', false), false)
  assert.equal(endsReport('idle', '---[ end trace 0000000000000000 ]---', true), false)
})

test('frames and symbols', () => {
  assert.deepEqual(parseFrame(' ? do_wp_page+0x1e3/0x380'), { frame: 'do_wp_page+0x1e3/0x380', reliable: false })
  assert.deepEqual(parseFrame(' knc_write+0x1a0/0x2c4 [knc_crash]'), { frame: 'knc_write+0x1a0/0x2c4 [knc_crash]', reliable: true })
  assert.deepEqual(parseFrame(' [<ffffffff8104f6a1>] foo+0x21/0x30 [mod 0123abcd]'), { frame: 'foo+0x21/0x30 [mod]', reliable: true })
  assert.equal(parseFrame('RIP: 0033:0x47b7a0'), null)
  assert.equal(bareSymbol('__handle_sysrq.cold+0x44/0x11c'), '__handle_sysrq')
  assert.equal(bareSymbol('count_memcg_events.constprop.0+0x1a/0x30'), 'count_memcg_events')
  assert.equal(bareSymbol('foo.isra.0.cold+0x1/0x2 [m]'), 'foo')
  assert.equal(normalizeText('Attempted to kill init! exitcode=0x0000000b'), 'Attempted to kill init! exitcode=0x…')
  assert.equal(normalizeText('INFO: task foo:123 blocked for more than 120 seconds.'), 'INFO: task foo:N blocked for more than N seconds.')
})

test('legacy prefixes and line splitting', () => {
  assert.deepEqual(stripLegacyPrefix('[    5.439515]  <TASK>'), { text: ' <TASK>', tsUsec: 5_439_515, caller: null })
  assert.deepEqual(stripLegacyPrefix('<4>[   12.000001][  T123] hello'), { text: 'hello', tsUsec: 12_000_001, caller: 'T123' })
  assert.deepEqual(stripLegacyPrefix('klmno'), { text: 'klmno', tsUsec: null, caller: null })
  assert.deepEqual(splitLines('a\r\nb\n'), ['a', 'b'])
  assert.deepEqual(splitLines('a'), ['a'])
})

test('property: classification and analysis never throw on arbitrary lines', () => {
  fc.assert(fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 200 }), { maxLength: 30 }), (lines) => {
    for (const l of lines) classifyLine(l)
    for (const type of ['panic', 'oops', 'oom', 'hung_task'] as const) analyzeReport(type, lines, 0, { signatureFrames: 4 })
    for (const l of lines) stripLegacyPrefix(l)
  }), { numRuns: 300 })
})

test('property: noise lines interleaved anywhere into a report leave its frames and signature alone', () => {
  const lines = readConsoleFixture('gpf-panic.txt').map((l) => l.text).slice(0, 35)
  const base = analyzeReport('gpf', lines, 0, { signatureFrames: 4 })
  const noise = fc.constantFrom('e1000e: eth0 NIC Link is Up 1000 Mbps', 'audit: type=1400 audit(1.2:3): apparmor="DENIED"', 'systemd-journald[211]: Sent WATCHDOG=1 notification.', '')
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: lines.length }), noise), { maxLength: 10 }), (ins) => {
    const l = [...lines]
    for (const [at, n] of [...ins].sort((a, b) => b[0] - a[0])) l.splice(at, 0, n)
    const a = analyzeReport('gpf', l, 0, { signatureFrames: 4 })
    assert.deepEqual(a.frames, base.frames)
    assert.equal(a.signature, base.signature)
    assert.equal(a.function, base.function)
  }), { numRuns: 200 })
})
