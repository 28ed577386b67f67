/**
 * The real-kernel captures (test/fixtures/kernel) through ncrx and the detector: exactly the
 * incidents the kernel reported, the same from the extended and the legacy format, and nothing
 * from ordinary boots or from sysrq dumps (h, l, w, m in the oops scenario).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { replayCapture } from '../../src/incidents/replay.js'
import type { NetconsRecord } from '../../src/types.js'
import { kernelFixturesDir } from '../helpers/paths.js'

async function replay (dir: string): Promise<{ incidents: NetconsRecord[], events: NetconsRecord[], logs: number }> {
  const incidents: NetconsRecord[] = []
  const events: NetconsRecord[] = []
  let logs = 0
  await replayCapture(join(kernelFixturesDir, dir, 'payloads.jsonl'), {
    onLog: () => { logs++ },
    onRecord: (r) => (r.kind === 'incident' ? incidents : events).push(r)
  })
  return { incidents, events, logs }
}

const MODULES = ['knc_crash(OE)', 'netconsole', 'configfs', 'virtio_net', 'net_failover', 'failover', 'virtio_pci', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring']
const HW = 'QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014'
const SYSCALL_FRAMES = ['proc_reg_write+0x56/0xa0', 'vfs_write+0xc7/0x3f0', 'ksys_write+0x6b/0xf0', 'do_syscall_64+0x5d/0x90', 'entry_SYSCALL_64_after_hwframe+0x6e/0xd8']

/** What the 6.1 oops scenario's kernel reported, in order (titles with the PID masked). */
const OOPS_SCENARIO = [
  {
    type: 'warn',
    title: /^WARNING: CPU: 1 PID: \d+ at \/var\/cache\/knc\/linux-image-6\.1\.0-56-cloud-amd64\/crashbuild\/knc_crash\.c:43 knc_write\+0x11b\/0x2c4 \[knc_crash\]$/,
    function: 'knc_write+0x11b/0x2c4 [knc_crash]',
    frames: SYSCALL_FRAMES,
    signature: 'warn|knc_write|proc_reg_write|vfs_write|ksys_write',
    summary: 'WARNING in knc_write',
    taint: 'GOE',
    message: 'knc_crash: deliberate WARNING via /proc/knc_crash'
  },
  {
    type: 'warn',
    title: /^WARNING: CPU: 1 PID: \d+ at .*knc_crash\.c:45 knc_write\+0x14d\/0x2c4 \[knc_crash\]$/,
    function: 'knc_write+0x14d/0x2c4 [knc_crash]',
    frames: SYSCALL_FRAMES,
    // WARN_ON_ONCE in the same function: grouped with the first (syzbot-style, by function).
    signature: 'warn|knc_write|proc_reg_write|vfs_write|ksys_write',
    summary: 'WARNING in knc_write',
    taint: 'GWOE',
    message: null
  },
  {
    type: 'bug',
    title: /^kernel BUG at \/var\/cache\/knc\/linux-image-6\.1\.0-56-cloud-amd64\/crashbuild\/knc_crash\.c:47!$/,
    function: 'knc_write+0x151/0x2c4 [knc_crash]',
    frames: SYSCALL_FRAMES,
    signature: 'bug|knc_write|proc_reg_write|vfs_write|ksys_write',
    summary: 'kernel BUG in knc_write',
    taint: 'GWOE',
    message: null
  },
  {
    type: 'oops',
    title: /^BUG: kernel NULL pointer dereference, address: 0000000000000000$/,
    function: 'knc_do_null+0x5/0x20 [knc_crash]',
    frames: ['knc_write+0x1a0/0x2c4 [knc_crash]', ...SYSCALL_FRAMES],
    signature: 'oops|knc_do_null|knc_write|proc_reg_write|vfs_write',
    summary: 'BUG: kernel NULL pointer dereference in knc_do_null',
    taint: 'GDWOE',
    message: null
  },
  {
    // After the oops the kernel is tainted D: the sysrq-c panic prints no stack at all.
    type: 'panic',
    title: /^Kernel panic - not syncing: sysrq triggered crash$/,
    function: null,
    frames: [],
    signature: 'panic|sysrq triggered crash',
    summary: 'Kernel panic: sysrq triggered crash',
    taint: null,
    message: 'sysrq triggered crash'
  }
]

for (const dir of ['6.1-ext-oops', '6.1-legacy-oops']) {
  test(`${dir}: WARN, WARN_ON_ONCE, BUG(), NULL dereference and panic, nothing from the sysrq dumps`, async () => {
    const { incidents, events } = await replay(dir)
    assert.equal(incidents.length, OOPS_SCENARIO.length, incidents.map((r) => r.incident!.title).join('\n'))
    incidents.forEach((rec, k) => {
      const want = OOPS_SCENARIO[k]!
      const i = rec.incident!
      assert.equal(rec.kind, 'incident')
      assert.equal(i.type, want.type)
      assert.match(i.title, want.title)
      assert.equal(rec.text, i.title)
      assert.equal(i.function, want.function)
      assert.deepEqual(i.frames, want.frames)
      assert.equal(i.signature, want.signature)
      assert.match(i.signatureId!, /^[0-9a-f]{16}$/)
      assert.equal(i.summary, want.summary)
      assert.equal(i.taint, want.taint)
      assert.equal(i.message, want.message)
      assert.equal(i.release, '6.1.0-56-cloud-amd64', 'a panic without a CPU line keeps the host\'s release')
      assert.equal(i.partial, false)
      assert.equal(i.endReason, 'end_marker')
      assert.equal(rec.format, dir.includes('legacy') ? 'legacy' : 'extended')
      if (want.type !== 'panic') {
        assert.equal(i.cpu, 1)
        assert.equal(i.comm, 'sh')
        assert.equal(typeof i.pid, 'number')
        assert.equal(i.hardware, HW)
        assert.deepEqual(i.modules, MODULES)
        assert.ok(i.text!.includes('Call Trace:'))
      } else {
        assert.equal(i.trigger, 'sysrq')
        assert.equal(i.hardware, HW, 'hardware remembered from the host\'s earlier report')
      }
      assert.ok(i.firstAt! <= i.lastAt!)
      assert.ok(i.firstTsUsec! <= i.lastTsUsec!)
    })
    const warn = incidents[0]!.incident!
    assert.ok(warn.text!.startsWith('------------[ cut here ]------------\nknc_crash: deliberate WARNING via /proc/knc_crash\nWARNING: CPU: 1'))
    assert.ok(warn.text!.endsWith('---[ end trace 0000000000000000 ]---'))
    assert.equal(incidents[2]!.incident!.details!.dieCount, 1)
    assert.equal(incidents[3]!.incident!.details!.dieCount, 2)
    assert.deepEqual(events.map((e) => e.event!.type), ['new_host'])
  })
}

test('6.1 oops scenario: extended and legacy captures give the same incidents', async () => {
  const ext = (await replay('6.1-ext-oops')).incidents.map((r) => r.incident!)
  const leg = (await replay('6.1-legacy-oops')).incidents.map((r) => r.incident!)
  const pick = (i: typeof ext[number]): unknown => ({
    type: i.type, function: i.function, frames: i.frames, signature: i.signature, signatureId: i.signatureId,
    cpu: i.cpu, comm: i.comm, taint: i.taint, release: i.release, hardware: i.hardware, modules: i.modules,
    title: i.title.replace(/PID: \d+/, 'PID: N'), message: i.message
  })
  assert.deepEqual(leg.map(pick), ext.map(pick))
})

const PANIC_SIG = 'panic|sysrq triggered crash|sysrq_handle_crash|__handle_sysrq|write_sysrq_trigger|proc_reg_write'
for (const [dir, release, fn] of [
  ['6.1-ext-panic', '6.1.0-56-cloud-amd64', 'sysrq_handle_crash+0x16/0x20'],
  ['6.1-legacy-panic', '6.1.0-56-cloud-amd64', 'sysrq_handle_crash+0x16/0x20'],
  ['6.12-ext-panic', '6.12.95+deb12-cloud-amd64', 'sysrq_handle_crash+0x1a/0x20'],
  ['6.12-legacy-panic', '6.12.95+deb12-cloud-amd64', 'sysrq_handle_crash+0x1a/0x20']
] as const) {
  test(`${dir}: one panic, same signature on 6.1 and 6.12`, async () => {
    const { incidents, events } = await replay(dir)
    assert.equal(incidents.length, 1)
    const i = incidents[0]!.incident!
    assert.equal(i.type, 'panic')
    assert.equal(i.title, 'Kernel panic - not syncing: sysrq triggered crash')
    assert.equal(i.function, fn, 'the first frame below panic()')
    assert.equal(i.frames[0]!.startsWith(dir.startsWith('6.12') ? 'panic+' : 'dump_stack_lvl+'), true)
    assert.ok(i.frames.includes(fn))
    assert.ok(!i.frames.some((f) => f.startsWith('?')), 'unreliable frames are left out')
    assert.equal(i.signature, PANIC_SIG)
    assert.equal(i.release, release)
    assert.equal(i.taint, '')
    assert.equal(i.comm, 'init')
    assert.equal(i.pid, 1)
    assert.equal(i.trigger, 'sysrq')
    assert.equal(i.endReason, 'end_marker', '`Rebooting in 1 seconds..` ends it')
    assert.ok(i.text!.endsWith('Rebooting in 1 seconds..'))
    assert.deepEqual(events.map((e) => e.event!.type), ['new_host'])
  })
}

for (const dir of ['6.1-ext-basic', '6.1-legacy-basic', '6.12-ext-basic', '6.12-legacy-basic', '6.1-ext-cmdline',
  '6.12-ext-cmdline', '6.1-ext-configfs', '6.12-ext-configfs', '6.12-ext-release-cmdline', '6.12-legacy-configfs-userdata']) {
  test(`${dir}: an ordinary boot has no incidents`, async () => {
    const { incidents, events, logs } = await replay(dir)
    assert.ok(logs > 0)
    assert.deepEqual(incidents.map((r) => r.incident!.title), [])
    assert.deepEqual(events.map((e) => e.event!.type), ['new_host'])
  })
}
