/**
 * What starts and ends a kernel report, line by line.
 *
 * The kernel prints every report as ordinary printk lines; nothing on the wire says "a report
 * begins here". These are the first lines the kernel prints for each kind of report (the
 * function that prints it in brackets, as of 6.1..6.12), checked against the real captures in
 * test/fixtures/kernel and the examples in the kernel's own documentation:
 *
 *   panic        `Kernel panic - not syncing: <msg>`                      (panic(), kernel/panic.c)
 *   warn         `WARNING: CPU: 1 PID: 114 at file.c:43 fn+0x1/0x2 [mod]` (__warn(), kernel/panic.c)
 *   bug          `kernel BUG at file.c:47!`                                (report_bug(), lib/bug.c)
 *                `BUG: scheduling while atomic: ...` and other `BUG: ` lines
 *   oops         `BUG: kernel NULL pointer dereference, address: ...`     (page_fault_oops(), arch/x86/mm/fault.c)
 *                `BUG: unable to handle page fault for address: ...`
 *                `Unable to handle kernel paging request at virtual address ...` (arm64 die_kernel_fault())
 *                `Oops: 0002 [#2] PREEMPT SMP NOPTI` (x86 __die_header(); also after the BUG lines above)
 *   gpf          `general protection fault, probably for non-canonical address 0x...: 0000 [#1] ...`
 *   soft_lockup  `watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [comm:pid]` (kernel/watchdog.c)
 *   hard_lockup  `watchdog: Watchdog detected hard LOCKUP on cpu 3`, `NMI watchdog: ...`
 *   rcu_stall    `rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:`, `... self-detected stall on CPU`
 *                (Documentation/RCU/stallwarn.rst)
 *   hung_task    `INFO: task kworker/0:1:12 blocked for more than 120 seconds.` (kernel/hung_task.c)
 *   oom          `<comm> invoked oom-killer: gfp_mask=...` .. `Out of memory: Killed process ...` (mm/oom_kill.c)
 *   ubsan        `UBSAN: array-index-out-of-bounds in file.c:12:3` (lib/ubsan.c; Documentation/dev-tools/ubsan.rst)
 *   kasan        `BUG: KASAN: slab-out-of-bounds in fn+0x1/0x2` (mm/kasan/report.c; Documentation/dev-tools/kasan.rst)
 *   kfence       `BUG: KFENCE: out-of-bounds read in fn+0x1/0x2` (Documentation/dev-tools/kfence.rst)
 *   kcsan        `BUG: KCSAN: data-race in a / b` (Documentation/dev-tools/kcsan.rst)
 *   lockdep      `WARNING: possible circular locking dependency detected` (kernel/locking/lockdep.c)
 *
 * Lines that announce a report before its title (`------------[ cut here ]------------`, the
 * `=====` banner of KASAN/UBSAN/lockdep) open a *pending* report that becomes real when a title
 * line follows within a few lines.
 *
 * Deliberately NOT incidents (the captures contain all of them, see docs/incidents.md):
 * sysrq dumps an operator asked for (`sysrq: Show backtrace of all active CPUs` followed by
 * `NMI backtrace for cpu N` and a call trace; `sysrq: Show Blocked State`; `sysrq: Show Memory`).
 * Their lines start with none of the titles above, so they are passed by; an NMI backtrace that
 * arrives *inside* an open report (a hard lockup or RCU stall prints them) stays part of it.
 */
import type { IncidentType } from './config.js'

/**
 * How a report of this kind ends:
 * - `trace`: `---[ end trace <id> ]---` (WARN, BUG(), oops: oops_end()/__warn() print it);
 * - `stack`: the first stack dump's `</TASK>` (5.13+), or `---[ end trace`, else idle (lockups, hung tasks, other `BUG:` lines that only dump_stack());
 * - `banner`: the closing `=====` banner, or `---[ end trace ]---` (sanitizers);
 * - `panic`: `---[ end Kernel panic` or `Rebooting in N seconds..`;
 * - `oom`: `Out of memory: Killed process ...`;
 * - `idle`: nothing but the idle timeout (RCU stalls print one backtrace per stalled CPU).
 */
export type EndRule = 'trace' | 'stack' | 'banner' | 'panic' | 'oom' | 'idle'

export type LineClass =
  | { kind: 'start', type: IncidentType, end: EndRule }
  /** An x86/arm64 die() header (`Oops: 0002 [#2] ...`); `type` is what it means when it opens a report. */
  | { kind: 'die', type: IncidentType, end: EndRule, count: number }
  /** `cut here` or a `=====` banner: a report may follow. */
  | { kind: 'pre' }

/**
 * Cheap test every line goes through first: no report title or marker starts outside it.
 * Anchored alternation of literal prefixes, which V8 compiles to a fast scan; the two
 * un-anchored forms (`invoked oom-killer`, die headers with ` [#N]`) are checked by `includes`.
 */
const QUICK = /^(?:Kernel panic|BUG: |WARNING: |kernel BUG |Oops|general protection|INFO: |rcu: |watchdog: |NMI watchdog|Watchdog detected|UBSAN: |-{12}\[ cut here|={20}|Unable to handle kernel|Internal error)/

const PANIC = /^Kernel panic - not syncing: /
const WARN = /^WARNING: (?:CPU: \d+ PID: \d+ at |at )/
const LOCKDEP = /^WARNING: (?:possible |suspicious |inconsistent |bad unlock|lock held|held lock|nested lock|circular |.*locking .*detected)/
const KERNEL_BUG = /^kernel BUG at /
const SOFT_LOCKUP = /^(?:(?:NMI )?watchdog: )?BUG: soft lockup/
const HARD_LOCKUP = /^(?:(?:NMI )?watchdog: )?(?:CPU\d+: )?Watchdog detected hard LOCKUP/
const RCU_STALL = /^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?/
const HUNG_TASK = /^INFO: task .+ blocked for more than \d+ seconds/
const UBSAN = /^UBSAN: /
const KASAN = /^BUG: KASAN: /
const KFENCE = /^BUG: KFENCE: /
const KCSAN = /^BUG: KCSAN: /
const PAGE_FAULT = /^(?:BUG: kernel NULL pointer dereference|BUG: unable to handle |Unable to handle kernel )/
const BUG_OTHER = /^BUG: /
const OOM = / invoked oom-killer: /
/** x86 `__die_header()`: `"%s: %04lx [#%d]"`, since 6.9 behind `Oops: `; arm64 `Internal error: %s: %016lx [#%d]`. */
const DIE = /^(?:Oops: )?(?:Internal error: )?(.+?): [0-9a-f]{4,16} \[#(\d+)\]/
const CUT_HERE = /^-{12}\[ cut here \]-{12}/
const BANNER = /^={20,}\s*$/

const start = (type: IncidentType, end: EndRule): LineClass => ({ kind: 'start', type, end })

/** First characters of the QUICK prefixes: a line starting with anything else skips the regex. */
const QUICK_FIRST = new Uint8Array(128)
for (const c of 'KBWkOgIrwNU-=') QUICK_FIRST[c.charCodeAt(0)] = 1

export function classifyLine (line: string): LineClass | null {
  const c0 = line.charCodeAt(0)
  if (!(c0 < 128 && QUICK_FIRST[c0] === 1) || !QUICK.test(line)) {
    if (line.includes(' invoked oom-killer: ') && OOM.test(line)) return start('oom', 'oom')
    if (line.includes('[#')) return classifyDie(line)
    return null
  }
  if (c0 === 0x4b /* K */) return PANIC.test(line) ? start('panic', 'panic') : null
  if (c0 === 0x2d /* - */) return CUT_HERE.test(line) ? { kind: 'pre' } : null
  if (c0 === 0x3d /* = */) return BANNER.test(line) ? { kind: 'pre' } : null
  if (WARN.test(line)) return start('warn', 'trace')
  if (LOCKDEP.test(line)) return start('lockdep', 'stack')
  if (KERNEL_BUG.test(line)) return start('bug', 'trace')
  if (SOFT_LOCKUP.test(line)) return start('soft_lockup', 'stack')
  if (HARD_LOCKUP.test(line)) return start('hard_lockup', 'stack')
  if (RCU_STALL.test(line)) return start('rcu_stall', 'idle')
  if (HUNG_TASK.test(line)) return start('hung_task', 'stack')
  if (UBSAN.test(line)) return start('ubsan', 'banner')
  if (KASAN.test(line)) return start('kasan', 'banner')
  if (KFENCE.test(line)) return start('kfence', 'banner')
  if (KCSAN.test(line)) return start('kcsan', 'banner')
  if (PAGE_FAULT.test(line)) return start('oops', 'trace')
  // `BUG: scheduling while atomic`, `BUG: sleeping function called from invalid context`,
  // `BUG: Bad page state`: printed with dump_stack(), no end marker.
  if (BUG_OTHER.test(line)) return start('bug', 'stack')
  if (line.includes('[#')) return classifyDie(line)
  return null
}

function classifyDie (line: string): LineClass | null {
  const m = DIE.exec(line)
  if (m === null) return null
  const what = m[1]!
  const count = Number(m[2])
  if (what.startsWith('general protection fault')) return { kind: 'die', type: 'gpf', end: 'trace', count }
  // arm64 BUG(): `Internal error: Oops - BUG: 00000000f2000800 [#1] SMP`
  if (what.includes('Oops - BUG')) return { kind: 'die', type: 'bug', end: 'trace', count }
  return { kind: 'die', type: 'oops', end: 'trace', count }
}

const END_TRACE = /^---\[ end trace [0-9a-f]* ?\]---/
const END_PANIC = /^---\[ end Kernel panic/
const REBOOTING = /^Rebooting in -?\d+ seconds/
const KILLED = /(?:^|: )Killed process \d+/
const TASK_END = /^\s*<\/TASK>/

/**
 * Does `line` end an open report whose end rule is `rule`? `sawCallTrace`: the report has had
 * its `Call Trace:` header. Returns true when the line is the report's last.
 */
export function endsReport (rule: EndRule, line: string, sawCallTrace: boolean): boolean {
  switch (rule) {
    case 'trace':
      return END_TRACE.test(line)
    case 'panic':
      // With panic=N the kernel reboots and prints `Rebooting in N seconds..`; otherwise it stops
      // with `---[ end Kernel panic - not syncing: ... ]---` (kernel/panic.c). Everything in
      // between (other CPUs' NMI backtraces, a WARN from the shutdown path) belongs to the panic.
      return END_PANIC.test(line) || REBOOTING.test(line)
    case 'oom':
      return KILLED.test(line)
    case 'banner':
      // The sanitizers close their report with the same `=====` banner that opened it; newer
      // UBSAN prints `---[ end trace ]---` instead.
      return BANNER.test(line) || END_TRACE.test(line)
    case 'stack':
      return (sawCallTrace && TASK_END.test(line)) || END_TRACE.test(line)
    case 'idle':
      return false
  }
}

/** Whether a report that closed by idle timeout or shutdown under `rule` lacks its end. */
export function hasEndMarker (rule: EndRule): boolean {
  return rule === 'trace' || rule === 'banner' || rule === 'oom'
}

const CALL_TRACE = /^\s*Call [Tt]race:/
export function isCallTraceHeader (line: string): boolean {
  return CALL_TRACE.test(line)
}

/** `sysrq: ...`: an operator (or a script) poked /proc/sysrq-trigger; a panic right after it was asked for. */
export function isSysrqLine (line: string): boolean {
  return line.startsWith('sysrq: ') || line.startsWith('SysRq : ')
}
