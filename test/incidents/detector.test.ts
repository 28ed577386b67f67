/**
 * IncidentDetector: report types the captures lack (synthetic reports in the shapes the kernel
 * documentation shows: Documentation/RCU/stallwarn.rst, dev-tools/kasan.rst, dev-tools/ubsan.rst,
 * the soft/hard lockup detector, hung task, OOM killer, arm64 die()), in both wire formats, and
 * the detector's edges: interleaving, multi-line and cut legacy datagrams, continuation records,
 * per-CPU lanes, caps, timeouts, shutdown, lifecycle events, bounded hosts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IncidentDetector } from '../../src/incidents/detector.js'
import { resolveIncidentsConfig } from '../../src/incidents/config.js'
import type { NetconsRecord } from '../../src/types.js'
import { type ConsoleLine, legacyPrefix, newRun, readConsoleFixture, runLines, toDatagrams } from './helpers.js'

interface Expect {
  type: string
  title: RegExp
  function: string | null
  framesStart: string[]
  signature: string
  cpu?: number | null
  pid?: number | null
  comm?: string | null
  taint?: string | null
  release?: string | null
  endReason?: string
  details?: Record<string, unknown>
}

const CASES: Array<{ file: string, expect: Expect[] }> = [
  {
    file: 'soft-lockup.txt',
    expect: [{
      type: 'soft_lockup',
      title: /^watchdog: BUG: soft lockup - CPU#1 stuck for 26s! \[insmod:412\]$/,
      function: 'spin_forever+0x12/0x30 [spin_mod]',
      framesStart: ['spin_init+0x1a/0x1000 [spin_mod]', 'do_one_initcall+0x5b/0x220'],
      signature: 'soft_lockup|spin_forever|spin_init|do_one_initcall|do_init_module',
      cpu: 1, pid: 412, comm: 'insmod', taint: 'GOEL', release: '6.1.0-56-cloud-amd64',
      endReason: 'end_marker',
      details: { stuckSeconds: 26 }
    }]
  },
  {
    file: 'hard-lockup.txt',
    expect: [{
      type: 'hard_lockup',
      title: /^NMI watchdog: Watchdog detected hard LOCKUP on cpu 3$/,
      function: 'native_queued_spin_lock_slowpath+0x63/0x2e0',
      framesStart: ['_raw_spin_lock_irqsave+0x3d/0x50', 'lock_mod_grab+0x1c/0x40 [lock_mod]', 'lock_mod_work+0x31/0x60 [lock_mod]'],
      signature: 'hard_lockup|native_queued_spin_lock_slowpath|_raw_spin_lock_irqsave|lock_mod_grab|lock_mod_work',
      cpu: 3, pid: 1877, comm: 'kworker/3:2'
    }, {
      // hardlockup_panic: the NMI frames are boilerplate, the task's stack is the signature.
      type: 'panic',
      title: /^Kernel panic - not syncing: Hard LOCKUP$/,
      function: 'native_queued_spin_lock_slowpath+0x63/0x2e0',
      framesStart: ['dump_stack_lvl+0x44/0x5c', 'panic+0x118/0x2f4'],
      signature: 'panic|Hard LOCKUP|native_queued_spin_lock_slowpath|_raw_spin_lock_irqsave|lock_mod_grab|lock_mod_work',
      cpu: 3,
      endReason: 'end_marker'
    }]
  },
  {
    file: 'rcu-stall.txt',
    expect: [{
      type: 'rcu_stall',
      title: /^rcu: INFO: rcu_preempt detected stalls on CPUs\/tasks:$/,
      function: 'stall_mod_loop+0x1d/0x40 [stall_mod]',
      framesStart: ['stall_mod_thread+0x2a/0x60 [stall_mod]', 'kthread+0xd7/0x100', 'ret_from_fork+0x1f/0x30'],
      signature: 'rcu_stall|stall_mod_loop|stall_mod_thread',
      cpu: 2, pid: 2231, comm: 'stall_mod_thr',
      endReason: 'idle'
    }]
  },
  {
    file: 'hung-task.txt',
    expect: [{
      type: 'hung_task',
      title: /^INFO: task jbd2\/sda1-8:312 blocked for more than 120 seconds\.$/,
      function: 'jbd2_journal_commit_transaction+0x1572/0x1a60 [jbd2]',
      framesStart: ['__schedule+0x403/0xbf0', 'schedule+0x27/0xf0'],
      signature: 'hung_task|jbd2_journal_commit_transaction|kjournald2',
      cpu: null, pid: 312, comm: 'jbd2/sda1-8', taint: '', release: '6.12.95+deb12-cloud-amd64',
      endReason: 'end_marker',
      details: { blockedSeconds: 120 }
    }, {
      type: 'hung_task',
      title: /^INFO: task kworker\/u8:3:1022 blocked/,
      function: 'write_cache_pages+0x1d0/0x3d0',
      framesStart: ['__schedule+0x403/0xbf0'],
      signature: 'hung_task|write_cache_pages|ext4_writepages|do_writepages|__writeback_single_inode',
      pid: 1022, comm: 'kworker/u8:3'
    }]
  },
  {
    file: 'oom.txt',
    expect: [{
      type: 'oom',
      title: /^stress-ng-vm invoked oom-killer: gfp_mask=0x140dca/,
      function: '__handle_mm_fault+0xa7f/0xfa0',
      framesStart: ['dump_stack_lvl+0x44/0x5c', 'dump_header+0x4a/0x211'],
      signature: 'oom|CONSTRAINT_NONE|stress-ng-vm',
      cpu: 0, pid: 7731, comm: 'stress-ng-vm', taint: '',
      endReason: 'end_marker',
      details: { killedPid: 7731, killedComm: 'stress-ng-vm', constraint: 'CONSTRAINT_NONE', order: 0, gfpMask: '0x140dca' }
    }]
  },
  {
    file: 'kasan.txt',
    expect: [{
      type: 'kasan',
      title: /^BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right\+0xa8\/0xbc \[kasan_test\]$/,
      function: 'kmalloc_oob_right+0xa8/0xbc [kasan_test]',
      framesStart: ['dump_stack_lvl+0x5b/0x80', 'print_report+0xcf/0x620', 'kasan_report+0xd9/0x110', '__asan_store1+0x7c/0xa0', 'kmalloc_oob_right+0xa8/0xbc [kasan_test]'],
      signature: 'kasan|kmalloc_oob_right|kmalloc_tests_init|do_one_initcall|do_init_module',
      cpu: 1, pid: 2760, comm: 'insmod', taint: 'GB',
      endReason: 'end_marker',
      details: { access: 'write', size: 1 }
    }]
  },
  {
    file: 'ubsan.txt',
    expect: [{
      type: 'ubsan',
      title: /^UBSAN: array-index-out-of-bounds in drivers\/net\/ethernet\/acme\/acme_main\.c:1187:28$/,
      function: 'acme_setup_rings+0x2f3/0x330 [acme]',
      framesStart: ['dump_stack_lvl+0x5d/0x80', '__ubsan_handle_out_of_bounds+0xc4/0x100', 'acme_setup_rings+0x2f3/0x330 [acme]'],
      signature: 'ubsan|acme_setup_rings|acme_open|__dev_open|__dev_change_flags',
      cpu: 0, pid: 604, comm: 'NetworkManager',
      endReason: 'end_marker'
    }]
  },
  {
    file: 'gpf-panic.txt',
    expect: [{
      type: 'gpf',
      title: /^Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 \[#1\] PREEMPT SMP NOPTI$/,
      function: 'acme_rx_poll+0x1b4/0x6a0 [acme]',
      // IRQ frames, then the interrupted idle task after its register dump inside <TASK>.
      framesStart: ['__napi_poll+0x2b/0x1c0', 'net_rx_action+0x2e1/0x380', 'handle_softirqs+0xd6/0x2c0', '__irq_exit_rcu+0xa6/0xc0', 'common_interrupt+0x81/0xa0', 'asm_common_interrupt+0x26/0x40', 'cpuidle_enter+0x2d/0x40'],
      signature: 'gpf|acme_rx_poll|__napi_poll|net_rx_action|handle_softirqs',
      cpu: 5, pid: 0, comm: 'swapper/5', taint: 'GOE', release: '6.12.95+deb12-cloud-amd64',
      details: { dieCount: 1, lastUnloaded: 'acme_old' }
    }, {
      // `Fatal exception in interrupt` names no cause: the oops before it is the cause.
      type: 'panic',
      title: /^Kernel panic - not syncing: Fatal exception in interrupt$/,
      function: 'acme_rx_poll+0x1b4/0x6a0 [acme]',
      framesStart: ['__napi_poll+0x2b/0x1c0'],
      signature: 'panic|Fatal exception in interrupt|acme_rx_poll|__napi_poll|net_rx_action|handle_softirqs',
      release: '6.12.95+deb12-cloud-amd64',
      endReason: 'end_marker',
      details: { causeType: 'gpf' }
    }]
  },
  {
    file: 'arm64-oops.txt',
    expect: [{
      type: 'oops',
      title: /^Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008$/,
      function: 'acme_spi_xfer+0x5c/0x1f0 [acme_spi]',
      framesStart: ['acme_spi_xfer+0x5c/0x1f0 [acme_spi]', 'acme_spi_worker+0x88/0x120 [acme_spi]', 'process_one_work+0x1f8/0x480'],
      signature: 'oops|acme_spi_xfer|acme_spi_worker',
      cpu: 2, pid: 991, comm: 'acme-spi-worker', taint: 'GO', release: '6.1.0-56-arm64',
      endReason: 'end_marker',
      details: { dieCount: 1 }
    }]
  }
]

function check (rec: NetconsRecord, want: Expect, ctx: string): void {
  const i = rec.incident!
  assert.equal(i.type, want.type, ctx)
  assert.match(i.title, want.title, ctx)
  assert.equal(i.function, want.function, ctx)
  assert.deepEqual(i.frames.slice(0, want.framesStart.length), want.framesStart, ctx)
  assert.equal(i.signature, want.signature, ctx)
  for (const k of ['cpu', 'pid', 'comm', 'taint', 'release', 'endReason'] as const) {
    if (want[k] !== undefined) assert.equal(i[k], want[k], `${ctx}: ${k}`)
  }
  for (const [k, v] of Object.entries(want.details ?? {})) assert.equal(i.details![k], v, `${ctx}: details.${k}`)
  assert.equal(i.partial, false, ctx)
}

for (const c of CASES) {
  for (const format of ['extended', 'legacy'] as const) {
    test(`${c.file} (${format}): ${c.expect.map((e) => e.type).join(', ')}`, () => {
      const run = runLines(readConsoleFixture(c.file), format)
      assert.equal(run.incidents.length, c.expect.length, run.incidents.map((r) => r.incident!.title).join('\n'))
      run.incidents.forEach((rec, k) => check(rec, c.expect[k]!, `${c.file} #${k}`))
    })
  }
}

test('lines from other subsystems inside a report do not break it', () => {
  const lines = readConsoleFixture('hung-task.txt').slice(0, 24)
  const noisy: ConsoleLine[] = []
  for (const [k, l] of lines.entries()) {
    noisy.push(l)
    if (k % 3 === 1) noisy.push({ text: `e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex (${k})`, tsUsec: l.tsUsec })
  }
  const clean = runLines(lines, 'extended').incidents
  const run = runLines(noisy, 'extended')
  assert.equal(run.incidents.length, 1)
  assert.deepEqual(run.incidents[0]!.incident!.frames, clean[0]!.incident!.frames)
  assert.equal(run.incidents[0]!.incident!.signature, clean[0]!.incident!.signature)
  assert.ok(run.incidents[0]!.incident!.text!.includes('NIC Link is Up'), 'the full text keeps what was interleaved')
})

test('legacy: a multi-line datagram and 1000-byte cuts give the same incident as one line per datagram', () => {
  const lines = readConsoleFixture('kasan.txt')
  const text = lines.map((l) => legacyPrefix(l.tsUsec) + l.text + '\n').join('')
  const expected = runLines(lines, 'legacy').incidents
  assert.equal(expected.length, 1)

  const whole = newRun()
  whole.send([Buffer.from(text)], 0)
  whole.advance(60_000)
  assert.equal(whole.incidents.length, 1)
  assert.equal(whole.incidents[0]!.incident!.signature, expected[0]!.incident!.signature)
  assert.deepEqual(whole.incidents[0]!.incident!.frames, expected[0]!.incident!.frames)

  // netconsole cuts console text longer than MAX_PRINT_CHUNK into 1000-byte datagrams with no header.
  const buf = Buffer.from(text)
  const chunks: Buffer[] = []
  for (let off = 0; off < buf.length; off += 1000) chunks.push(buf.subarray(off, off + 1000))
  assert.ok(chunks.length >= 3)
  assert.ok(!chunks[0]!.toString().endsWith('\n'), 'the first cut falls inside a line')
  const cut = newRun()
  chunks.forEach((c, k) => cut.send([c], k))
  cut.advance(60_000)
  assert.equal(cut.incidents.length, 1)
  assert.equal(cut.incidents[0]!.incident!.text, expected[0]!.incident!.text)
  assert.equal(cut.incidents[0]!.incident!.signature, expected[0]!.incident!.signature)
})

test('legacy: a cut line whose rest never comes is still seen after the idle timeout', () => {
  const run = newRun({ idleTimeoutMs: 500 })
  const head = Buffer.from(`${legacyPrefix(5_000_000)}Kernel panic - not syncing: `)
  const pad = Buffer.alloc(1000 - head.length, 'x')
  run.send([Buffer.concat([head, pad])], 0)
  assert.equal(run.incidents.length, 0)
  run.advance(10_000)
  assert.equal(run.incidents.length, 1)
  assert.equal(run.incidents[0]!.incident!.type, 'panic')
})

test('extended: a record with embedded newlines is split into lines', () => {
  const lines = readConsoleFixture('ubsan.txt')
  const body = lines.map((l) => l.text).join('\n').replace(/\\/g, '\\x5c').replace(/\n/g, '\\x0a')
  const run = newRun()
  run.send([Buffer.from(`3,7,${lines[0]!.tsUsec},-;${body}\n`)], 0)
  run.advance(60_000)
  assert.equal(run.incidents.length, 1)
  assert.equal(run.incidents[0]!.incident!.signature, 'ubsan|acme_setup_rings|acme_open|__dev_open|__dev_change_flags')
  assert.equal(run.incidents[0]!.incident!.lines, lines.length)
})

test('extended: continuation records (`c` / `+` flags) are appended to the line they continue', () => {
  const lines = readConsoleFixture('arm64-oops.txt')
  const ds = toDatagrams(lines, 'extended', 10)
  const idx = lines.findIndex((l) => l.text.startsWith('Modules linked in:'))
  // Replace the modules line by its pieces, as pr_cont() emits them when the kernel cannot merge.
  const pieces = ['Modules linked in:', ' acme_spi(O)', ' spidev', ' netconsole']
  const flags = ['-', 'c', '+', 'c']
  const seq0 = 10 + idx
  const replaced: Buffer[] = [...ds.slice(0, idx)]
  pieces.forEach((p, k) => replaced.push(Buffer.from(`4,${seq0 + k},${lines[idx]!.tsUsec},${flags[k]!};${p}\n`)))
  for (const d of ds.slice(idx + 1)) {
    // Renumber what follows.
    const s = d.toString()
    const m = /^(\d+),(\d+),(.*)$/s.exec(s)!
    replaced.push(Buffer.from(`${m[1]!},${Number(m[2]) + pieces.length - 1},${m[3]!}`))
  }
  const run = newRun()
  replaced.forEach((d, k) => run.send([d], k))
  run.advance(60_000)
  assert.equal(run.incidents.length, 1)
  assert.deepEqual(run.incidents[0]!.incident!.modules, ['acme_spi(O)', 'spidev', 'netconsole'])
})

test('per-CPU lanes: two WARNs interleaved line by line on CPUs tagged by `cpu=` sysdata stay apart', () => {
  const a = readConsoleFixture('soft-lockup.txt').slice(1, -1)
  const b = readConsoleFixture('hung-task.txt').slice(0, 24)
  const out: Buffer[] = []
  let seq = 1
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    for (const [lines, cpu] of [[a, 0], [b, 1]] as const) {
      const l = lines[k]
      if (l !== undefined) out.push(Buffer.from(`4,${seq++},${l.tsUsec},-;${l.text.replace(/\\/g, '\\x5c')}\n cpu=${cpu}\n`))
    }
  }
  const run = newRun()
  out.forEach((d, k) => run.send([d], k))
  run.advance(60_000)
  const sigs = run.incidents.map((r) => r.incident!.signature).sort()
  assert.deepEqual(sigs, ['hung_task|jbd2_journal_commit_transaction|kjournald2', 'soft_lockup|spin_forever|spin_init|do_one_initcall|do_init_module'])
})

test('caps: lines beyond maxLinesPerReport are counted, the end marker still closes the report', () => {
  const run = runLines(readConsoleFixture('oom.txt'), 'extended', { maxLinesPerReport: 10 })
  assert.equal(run.incidents.length, 1)
  const i = run.incidents[0]!.incident!
  assert.equal(i.endReason, 'end_marker')
  assert.equal(i.text!.split('\n').length, 10)
  assert.equal(i.lines, 34)
  assert.equal(i.droppedLines, 24)
  assert.equal(run.detector.stats().droppedLines, 24)
})

test('caps: maxBytesPerReport bounds the kept text', () => {
  const run = runLines(readConsoleFixture('kasan.txt'), 'legacy', { maxBytesPerReport: 600 })
  const i = run.incidents[0]!.incident!
  assert.ok(i.text!.length <= 600)
  assert.ok(i.droppedLines! > 0)
  assert.equal(i.type, 'kasan')
})

test('idle timeout: a WARN that never ends is emitted as partial; nextDeadline says when', () => {
  const lines = readConsoleFixture('soft-lockup.txt').slice(1, 10)
  const run = newRun({ idleTimeoutMs: 2000 })
  toDatagrams(lines, 'extended').forEach((d, k) => run.send([d], k * 10))
  assert.equal(run.incidents.length, 0)
  assert.equal(run.detector.nextDeadline(), 80 + 2000)
  run.advance(2079)
  assert.equal(run.incidents.length, 0)
  run.advance(2080)
  assert.equal(run.incidents.length, 1)
  // soft lockups have no end marker of their own: idle is a normal end for them.
  assert.equal(run.incidents[0]!.incident!.endReason, 'idle')
  assert.equal(run.detector.nextDeadline(), Infinity)
})

test('idle before the end marker marks a WARN partial', () => {
  const lines = readConsoleFixture('ubsan.txt').slice(0, 8)
  const run = runLines(lines, 'extended')
  assert.equal(run.incidents.length, 1)
  assert.equal(run.incidents[0]!.incident!.partial, true)
  assert.equal(run.incidents[0]!.incident!.endReason, 'idle')
  assert.equal(run.incidents[0]!.incomplete, true)
  assert.equal(run.detector.stats().partial.idle, 1)
})

test('maxReportMs: a report that keeps growing is cut', () => {
  const run = newRun({ maxReportMs: 1000, idleTimeoutMs: 500 })
  const title = { text: 'rcu: INFO: rcu_sched self-detected stall on CPU', tsUsec: 1 }
  const more = Array.from({ length: 30 }, (_, k) => ({ text: `rcu: \t${k}-....: (21000 ticks this GP)`, tsUsec: 2 + k }))
  toDatagrams([title, ...more], 'extended').forEach((d, k) => run.send([d], k * 100))
  assert.equal(run.incidents.length, 1)
  assert.equal(run.incidents[0]!.incident!.endReason, 'max_duration')
  assert.equal(run.incidents[0]!.incident!.partial, true)
})

test('flushAll emits open reports as partial (shutdown) and drops pending markers', () => {
  const run = newRun()
  run.send(toDatagrams(readConsoleFixture('kasan.txt').slice(0, 12), 'extended'), 0)
  run.send(toDatagrams([{ text: '------------[ cut here ]------------', tsUsec: 1 }], 'legacy'), 1, '::ffff:10.0.0.2')
  run.detector.flushAll(5)
  assert.equal(run.incidents.length, 1)
  assert.equal(run.incidents[0]!.incident!.endReason, 'shutdown')
  assert.equal(run.incidents[0]!.incident!.partial, true)
  assert.equal(run.detector.stats().openReports, 0)
  assert.equal(run.detector.nextDeadline(), Infinity)
})

test('a `cut here` with no title after it is not an incident', () => {
  const lines = [{ text: '------------[ cut here ]------------', tsUsec: 1 }, ...Array.from({ length: 12 }, (_, k) => ({ text: `ordinary line ${k}`, tsUsec: 2 + k }))]
  const run = runLines(lines, 'extended')
  assert.equal(run.incidents.length, 0)
  assert.equal(run.detector.stats().orphanMarkers, 1)
})

test('a new title before the end marker closes the open report as superseded', () => {
  const warn = readConsoleFixture('soft-lockup.txt').slice(1, 8)
  const ubsan = readConsoleFixture('ubsan.txt')
  const run = runLines([...warn, ...ubsan], 'extended')
  assert.deepEqual(run.incidents.map((r) => [r.incident!.type, r.incident!.endReason, r.incident!.partial]),
    [['soft_lockup', 'superseded', true], ['ubsan', 'end_marker', false]])
})

test('types: disabled types are recognised (so they do not bleed into others) but not emitted', () => {
  const run = runLines(readConsoleFixture('gpf-panic.txt'), 'extended', { types: ['panic'] })
  assert.deepEqual(run.incidents.map((r) => r.incident!.type), ['panic'])
  assert.equal(run.incidents[0]!.incident!.signature, 'panic|Fatal exception in interrupt|acme_rx_poll|__napi_poll|net_rx_action|handle_softirqs')
  assert.equal(run.detector.stats().disabledType, 1)
})

test('enabled: false emits nothing', () => {
  const run = runLines(readConsoleFixture('gpf-panic.txt'), 'extended', { enabled: false })
  assert.equal(run.incidents.length + run.events.length, 0)
})

test('incident records: kind, text = title, host fields copied from the lines', () => {
  const run = runLines(readConsoleFixture('ubsan.txt'), 'extended')
  const rec = run.incidents[0]!
  assert.equal(rec.kind, 'incident')
  assert.equal(rec.text, rec.incident!.title)
  assert.equal(rec.src, '::ffff:10.0.0.1')
  assert.equal(rec.host.name, 'host-1')
  assert.equal(rec.thread, 0)
  assert.equal(rec.level, 4)
  assert.equal(rec.seq, 100)
  assert.match(rec.incident!.id!, /^::ffff:10\.0\.0\.1\//)
  assert.equal(rec.raw.toString(), rec.text)
})

// ---- lifecycle ----------------------------------------------------------------------------

function ext (seq: number, tsUsec: number, text: string): Buffer {
  return Buffer.from(`6,${seq},${tsUsec},-;${text}\n`)
}

test('new_host once per host; reboot (sequence reset) after a panic; silent_after_panic only when silent', () => {
  const run = newRun({ silenceAfterPanicMs: 60_000 })
  run.send([ext(500, 900_000_000, 'hello')], 0)
  run.send([ext(501, 900_100_000, 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b')], 10)
  run.send([ext(502, 900_200_000, 'Rebooting in 10 seconds..')], 20)
  assert.deepEqual(run.incidents.map((r) => r.incident!.type), ['panic'])
  assert.equal(run.incidents[0]!.incident!.signature, 'panic|Attempted to kill init! exitcode=0x…')
  // The host comes back 30 s later and replays its boot log from seq 0.
  run.send([ext(0, 0, 'Linux version 6.1.0-56-cloud-amd64')], 30_000)
  run.send([ext(1, 10, 'Command line: console=ttyS0')], 30_001)
  run.advance(200_000)
  const types = run.events.map((e) => e.event!.type)
  assert.deepEqual(types, ['new_host', 'reboot'])
  const reboot = run.events[1]!
  assert.equal(reboot.event!.afterPanic, true)
  assert.equal(reboot.event!.previousSeq, 502)
  assert.equal(reboot.event!.seq, 0)
  assert.equal(reboot.event!.previousUptimeMs, 900_200)
  assert.equal(reboot.event!.uptimeMs, 0)
  assert.equal(reboot.event!.downMs, 29_980)
  assert.equal(reboot.kind, 'event')
  assert.equal(reboot.host.name, 'host-1')

  // Another host panics and stays silent.
  run.send([ext(7, 1, 'Kernel panic - not syncing: Fatal exception')], 200_000, '::ffff:10.0.0.2')
  run.advance(200_000 + 2000 + 59_999)
  assert.equal(run.events.filter((e) => e.event!.type === 'silent_after_panic').length, 0)
  run.advance(200_000 + 2000 + 60_000)
  const silent = run.events.filter((e) => e.event!.type === 'silent_after_panic')
  assert.equal(silent.length, 1)
  assert.equal(silent[0]!.src, '::ffff:10.0.0.2')
  assert.equal(silent[0]!.event!.silentMs, 60_000)
  assert.equal(silent[0]!.event!.signature, 'panic|Fatal exception')
  assert.equal(run.detector.nextDeadline(), Infinity)
})

test('legacy reboot: the console clock goes back', () => {
  const run = newRun()
  run.send([Buffer.from(`${legacyPrefix(500_000_000)}late line\n`)], 0)
  run.send([Buffer.from(`${legacyPrefix(499_000_000)}slightly out of order\n`)], 1)
  assert.deepEqual(run.events.map((e) => e.event!.type), ['new_host'])
  run.send([Buffer.from(`${legacyPrefix(0)}Linux version 6.12.95\n`)], 2)
  assert.deepEqual(run.events.map((e) => e.event!.type), ['new_host', 'reboot'])
  assert.equal(run.events[1]!.event!.afterPanic, false)
  assert.equal(run.events[1]!.event!.previousUptimeMs, 499_000)
})

test('loss: gaps add up to the threshold; at most one event per interval', () => {
  const run = newRun({ lossThreshold: 8, lossIntervalMs: 60_000 })
  run.send([ext(1, 1, 'a')], 0)
  run.send([ext(6, 2, 'b')], 1_000) // 4 lost (held for the gap timeout, then skipped)
  run.advance(2_000)
  assert.equal(run.events.filter((e) => e.event!.type === 'loss').length, 0)
  run.send([ext(11, 3, 'c')], 3_000) // 4 more: 8 in all
  run.advance(4_000)
  const loss = run.events.filter((e) => e.event!.type === 'loss')
  assert.equal(loss.length, 1)
  assert.equal(loss[0]!.event!.lost, 8)
  assert.equal(loss[0]!.event!.gaps, 2)
  run.send([ext(30, 4, 'd')], 5_000) // 18 lost, within the interval: held back
  run.advance(6_000)
  assert.equal(run.events.filter((e) => e.event!.type === 'loss').length, 1)
  run.send([ext(32, 5, 'e')], 70_000)
  run.advance(71_000)
  const loss2 = run.events.filter((e) => e.event!.type === 'loss')
  assert.equal(loss2.length, 2)
  assert.equal(loss2[1]!.event!.lost, 19)
})

test('events: only the configured ones are emitted', () => {
  const run = newRun({ events: ['reboot'] })
  run.send([ext(5, 500_000_000, 'x')], 0)
  run.send([ext(0, 0, 'y')], 30_000)
  run.advance(31_000)
  assert.deepEqual(run.events.map((e) => e.event!.type), ['reboot'])
})

test('maxHosts: the least recently seen host is forgotten (counted) and is new again later', () => {
  const run = newRun({ maxHosts: 2 })
  run.send([ext(1, 1, 'a')], 0, '::ffff:10.0.0.1')
  run.send([ext(1, 1, 'b')], 1, '::ffff:10.0.0.2')
  run.send([ext(2, 2, 'b')], 2, '::ffff:10.0.0.2')
  run.send([ext(1, 1, 'c')], 3, '::ffff:10.0.0.3')
  run.send([ext(1, 1, 'd')], 4, '::ffff:10.0.0.4')
  const s = run.detector.stats()
  assert.equal(s.hosts, 2)
  assert.equal(s.evictedHosts, 2)
  assert.equal(run.events.filter((e) => e.event!.type === 'new_host').length, 4)
})

test('observe never throws: a malformed record is counted as an internal error', () => {
  const emitted: NetconsRecord[] = []
  const d = new IncidentDetector({ config: resolveIncidentsConfig(), thread: 0, emit: (r) => emitted.push(r) })
  const bad = { kind: 'log', format: 'extended', src: 'x', text: null, dict: null, raw: null } as unknown as NetconsRecord
  assert.doesNotThrow(() => d.observe(bad, 0))
  assert.equal(d.stats().internalErrors, 1)
  // Non-log records (incidents, events) are ignored.
  d.observe({ ...bad, kind: 'incident' } as unknown as NetconsRecord, 1)
  assert.equal(d.stats().internalErrors, 1)
})
