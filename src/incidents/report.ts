/**
 * Turns the lines of one kernel report into structured fields: CPU/PID/comm, taint, release,
 * hardware, the faulting function, the call trace, the modules list and a stable signature.
 * Pure functions: the detector decides which lines belong together, this file only reads them.
 *
 * Line shapes are the kernel's own (x86 `show_regs()`/`show_trace_log_lvl()`, arm64
 * `__show_regs()`/`dump_backtrace()`, `dump_stack_print_info()` in lib/dump_stack.c), as seen in
 * the 6.1 and 6.12 captures under test/fixtures/kernel.
 */
import { createHash } from 'node:crypto'
import type { IncidentType } from './config.js'
import { isCallTraceHeader } from './patterns.js'

export interface ReportAnalysis {
  /** Faulting function as printed (`knc_write+0x11b/0x2c4 [knc_crash]`), or the first meaningful frame. */
  function: string | null
  /** Reliable frames of the first call trace, as printed minus `? ` guesses and raw addresses. */
  frames: string[]
  cpu: number | null
  pid: number | null
  comm: string | null
  /** Taint letters as printed without the padding (`GDWOE`); `''` for "Not tainted"; null when the report does not say. */
  taint: string | null
  release: string | null
  hardware: string | null
  modules: string[]
  /** x86 `[#N]` / arm64 die counter: how many oopses this boot has had. */
  dieCount: number | null
  /** WARN(): the message printed between `cut here` and `WARNING:`; panic: the panic message. */
  message: string | null
  /** Short human title in the style of syzbot: `WARNING in knc_write`. */
  summary: string
  signature: string
  /** First 16 hex digits of SHA-256(signature): a compact key for dedup (PagerDuty `dedup_key`, file names). */
  signatureId: string
  /** Extra per-type facts (OOM victim, lockup duration, sanitizer access). */
  details: Record<string, string | number>
}

/** What the detector knows about an earlier report of the same host, for `panic: Fatal exception`. */
export interface CauseInfo {
  type: string
  function: string | null
  frames: string[]
}

// ` ? foo.cold+0x1/0x2 [mod 0123abcd]`, also the pre-4.x form ` [<ffffffff81234567>] foo+0x1/0x2`.
const FRAME = /^(\?\s+)?(?:\[<[0-9a-f]+>\]\s+)?(\?\s+)?([A-Za-z_.$][\w.$]*)\+(0x[0-9a-f]+)\/(0x[0-9a-f]+)(?:\s+\[([^\]\s]+)(?:\s+[0-9a-f]+)?\])?/
const SYMBOL_IN = /([A-Za-z_.$][\w.$]*)\+(0x[0-9a-f]+)\/(0x[0-9a-f]+)(?:\s+\[([^\]\s]+)(?:\s+[0-9a-f]+)?\])?/
const RIP = /^RIP: [0-9a-f]{4}:(.*)$/
const ARM_PC = /^(?:pc : |PC is at )(.*)$/
const CPU_LINE = /^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.*?) (?:Not tainted|Tainted: ([A-Z ]*?))\s+(\S+)(?: #|$)/
const TAINT_LINE = /^\s+(?:Not tainted|Tainted: ([A-Z ]*?))\s+(\S+)(?: #|$)/
const HARDWARE = /^Hardware name: (.*)$/
const MODULES = /^Modules linked in:(.*)$/
const TASK_LINE = /^task:(.+?)\s+state:\S+.*?\bpid:\s*(\d+)/
const REGISTER = /^(?:RIP|RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R\d\d?|FS|GS|CS|CR\d|DR\d|PKRU|Code|EFLAGS|pc|lr|sp|x\d\d?)\s*:/
const DIE_COUNT = /: [0-9a-f]{4,16} \[#(\d+)\]/

/** Frames that say how the report was printed, not where the bug is; never part of a signature. */
const BOILERPLATE = new Set([
  'dump_stack', 'dump_stack_lvl', '__dump_stack', 'show_stack', 'show_trace_log_lvl', 'dump_backtrace',
  'panic', 'vpanic', 'nmi_panic', '__warn', 'warn_slowpath_fmt', 'warn_slowpath_null', '__warn_printk',
  'report_bug', 'handle_bug', 'exc_invalid_op', 'asm_exc_invalid_op', 'do_error_trap', 'do_trap',
  'die', '__die', 'oops_end', 'bug_handler', 'call_break_hook', 'brk_handler', 'do_debug_exception',
  'el1_dbg', 'el1h_64_sync_handler', 'el1h_64_sync', 'do_mem_abort', 'el1_abort', 'die_kernel_fault',
  '__do_kernel_fault', 'do_page_fault', 'do_translation_fault', 'exc_page_fault', 'asm_exc_page_fault',
  'page_fault_oops', 'kernelmode_fixup_or_oops', 'do_user_addr_fault', '__bad_area_nosemaphore',
  'no_context', 'exc_general_protection', 'asm_exc_general_protection',
  'nmi_cpu_backtrace', 'nmi_trigger_cpumask_backtrace', 'arch_trigger_cpumask_backtrace',
  'trigger_single_cpu_backtrace', 'nmi_cpu_backtrace_handler', 'nmi_handle', 'default_do_nmi',
  'exc_nmi', 'asm_exc_nmi', 'end_repeat_nmi', 'watchdog_timer_fn', 'watchdog_overflow_callback',
  '__perf_event_overflow', 'perf_event_nmi_handler', 'rcu_dump_cpu_stacks', 'print_cpu_stall',
  'check_cpu_stall', 'rcu_pending', 'rcu_sched_clock_irq', 'rcu_check_callbacks', 'update_process_times',
  'tick_sched_handle', 'tick_sched_timer', 'tick_nohz_handler', '__hrtimer_run_queues',
  'hrtimer_interrupt', '__sysvec_apic_timer_interrupt', 'sysvec_apic_timer_interrupt',
  'asm_sysvec_apic_timer_interrupt', 'dump_header', 'oom_kill_process', 'out_of_memory',
  'ubsan_epilogue', 'kasan_report', 'print_report', '__kasan_report', 'kasan_check_range',
  'kfence_report_error', 'kfence_handle_page_fault', 'kcsan_report', 'print_circular_bug',
  'check_noncircular', 'check_prev_add', 'validate_chain', '__lock_acquire', 'lock_acquire',
  'handle_pmi_common', 'intel_pmu_handle_irq', 'amd_pmu_handle_irq', 'x86_pmu_handle_irq',
  '__die_body', 'die_addr', '__die_header',
  // Sleeping and waiting: a hung task is stuck in whoever called these.
  '__schedule', 'schedule', 'schedule_timeout', 'schedule_preempt_disabled', 'io_schedule',
  'io_schedule_timeout', 'schedule_timeout_uninterruptible', 'preempt_schedule_common', '__cond_resched',
  'bit_wait_io', 'bit_wait', '__wait_on_bit', 'out_of_line_wait_on_bit', '__wait_on_bit_lock',
  'folio_wait_bit_common', 'folio_wait_bit', 'folio_wait_writeback', 'wait_on_page_bit_common',
  'wait_for_completion', '__wait_for_common', 'wait_for_common', 'wait_for_completion_timeout',
  'rwsem_down_write_slowpath', 'rwsem_down_read_slowpath', 'down_write', 'down_read', 'down',
  '__mutex_lock', '__mutex_lock_slowpath', 'mutex_lock', 'mutex_lock_nested',
  // The allocator path an OOM report starts with.
  '__alloc_pages_slowpath', '__alloc_pages', '__alloc_pages_noprof', 'alloc_pages', 'alloc_pages_noprof',
  'alloc_pages_mpol', 'alloc_pages_mpol_noprof', '__folio_alloc', '__folio_alloc_noprof', 'folio_alloc',
  'vma_alloc_folio', 'vma_alloc_folio_noprof',
  // The bottom of every stack: syscall and kthread entry.
  'entry_SYSCALL_64_after_hwframe', 'entry_SYSCALL_64', 'do_syscall_64', 'x64_sys_call',
  'ret_from_fork', 'ret_from_fork_asm', 'kthread', 'worker_thread', 'process_one_work',
  'el0_svc', 'el0t_64_sync_handler', 'el0t_64_sync', 'invoke_syscall', 'el0_svc_common', 'do_el0_svc'
])
const BOILERPLATE_PREFIX = /^(?:__ubsan_handle_|__asan_|__kasan_|__tsan_|__sanitizer_cov)/

/** `foo.isra.0.cold+0x1/0x2 [mod]` → `foo`: compiler clones and offsets differ between builds of the same code. */
export function bareSymbol (frame: string): string {
  let end = frame.indexOf('+')
  if (end < 0) end = frame.indexOf(' ')
  const sym = end < 0 ? frame : frame.slice(0, end)
  return sym.replace(/\.(?:cold|isra|constprop|part|llvm|lto_priv|localalias|specialized)(?:\.\d+)?/g, '')
}

function isBoilerplate (sym: string): boolean {
  return BOILERPLATE.has(sym) || BOILERPLATE_PREFIX.test(sym)
}

/** `symbol+0xoff/0xlen [module]`, the printed form without `?`, addresses or build ids. */
function formatFrame (m: RegExpExecArray, symIdx: number): string {
  const base = `${m[symIdx]!}+${m[symIdx + 1]!}/${m[symIdx + 2]!}`
  const mod = m[symIdx + 3]
  return mod === undefined ? base : `${base} [${mod}]`
}

/** Parses one call-trace line; null when it is not a frame. `reliable` is false for the unwinder's `?` guesses. */
export function parseFrame (line: string): { frame: string, reliable: boolean } | null {
  const m = FRAME.exec(line.trim())
  if (m === null) return null
  return { frame: formatFrame(m, 3), reliable: m[1] === undefined && m[2] === undefined }
}

/** Reads the faulting function from a `RIP:` / `pc :` line: null for user-space addresses (`RIP: 0033:0x47b7a0`). */
function functionFromRegLine (line: string): string | null {
  const m = RIP.exec(line) ?? ARM_PC.exec(line)
  if (m === null) return null
  const s = SYMBOL_IN.exec(m[1]!)
  return s === null ? null : formatFrame(s, 1)
}

/** Replaces what differs between occurrences of the same message (addresses, ids, durations). */
export function normalizeText (s: string): string {
  return s
    .replace(/0x[0-9a-f]+/gi, '\u0001')
    .replace(/\b[0-9a-f]{8,}\b/gi, '\u0002')
    .replace(/\d+/g, 'N')
    .replace(/\u0001/g, '0x…')
    .replace(/\u0002/g, '…')
    .trim()
}

interface TraceState {
  frames: string[]
  firstReliable: string | null
}

/** Collects the frames of the first call trace. */
function readTrace (lines: readonly string[]): TraceState {
  const frames: string[] = []
  let inTrace = false
  /** The trace marks its sections (`<IRQ>`, `<NMI>`, `<TASK>`, 5.13+): registers inside them are not its end. */
  let marked = false
  for (const raw of lines) {
    const line = raw.trimStart()
    if (!inTrace) {
      if (isCallTraceHeader(raw)) inTrace = true
      continue
    }
    if (line.startsWith('<')) {
      // <IRQ> </IRQ> <NMI> </NMI> <TASK> </TASK> <EOI> (5.13+ mark the stack sections).
      marked = true
      if (line.startsWith('</TASK>')) break
      continue
    }
    const f = parseFrame(line)
    if (f !== null) {
      if (f.reliable) frames.push(f.frame)
      continue
    }
    // Inside <NMI>/<TASK> x86 prints the interrupted context's registers, then more frames;
    // without the markers (older kernels) a register dump or a new section ends the trace.
    if (isCallTraceHeader(raw) || line.startsWith('---[ end')) break
    if (!marked && frames.length > 0 && (REGISTER.test(line) || line.startsWith('Modules linked in') ||
      line.startsWith('CPU: ') || line.startsWith('NMI backtrace'))) break
  }
  return { frames, firstReliable: frames[0] ?? null }
}

const TYPE_LABEL: Record<string, string> = {
  warn: 'WARNING', bug: 'kernel BUG', oops: 'Oops', gpf: 'general protection fault',
  soft_lockup: 'soft lockup', hard_lockup: 'hard lockup', rcu_stall: 'RCU stall', hung_task: 'task hung',
  oom: 'out of memory', ubsan: 'UBSAN', kasan: 'KASAN', kfence: 'KFENCE', kcsan: 'KCSAN', lockdep: 'lockdep',
  panic: 'Kernel panic'
}

/**
 * Reads a report. `lines` are the report's lines in order (text only, prefixes stripped);
 * `titleIdx` is the index of the title line. `preLines` are lines between a `cut here` marker
 * and the title (the WARN() message).
 */
export function analyzeReport (
  type: IncidentType,
  lines: readonly string[],
  titleIdx: number,
  opts: { signatureFrames: number, cause?: CauseInfo | null, preLines?: readonly string[] }
): ReportAnalysis {
  const title = lines[titleIdx] ?? ''
  let cpu: number | null = null
  let pid: number | null = null
  let comm: string | null = null
  let taint: string | null = null
  let release: string | null = null
  let hardware: string | null = null
  let modules: string[] = []
  let regFunction: string | null = null
  let dieCount: number | null = null
  let sawCpuLine = false
  const details: Record<string, string | number> = {}

  for (let i = titleIdx; i < lines.length; i++) {
    const line = lines[i]!
    const c = line.charCodeAt(0)
    if (c === 0x43 /* C */ && !sawCpuLine) {
      const m = CPU_LINE.exec(line)
      if (m !== null) {
        sawCpuLine = true
        cpu = Number(m[1]); pid = Number(m[2]); comm = m[3]!
        taint = m[4] === undefined ? '' : m[4].replace(/\s+/g, '')
        release = m[5]!
        continue
      }
    }
    if (hardware === null && c === 0x48 /* H */) {
      const m = HARDWARE.exec(line)
      if (m !== null) { hardware = m[1]!.trim(); continue }
    }
    if (modules.length === 0 && c === 0x4d /* M */) {
      const m = MODULES.exec(line)
      if (m !== null) {
        let list = m[1]!
        const lu = /\s*\[last unloaded: ([^\]]*)\]/.exec(list)
        if (lu !== null) { details.lastUnloaded = lu[1]!; list = list.slice(0, lu.index) }
        modules = list.split(/\s+/).filter((s) => s !== '')
        continue
      }
    }
    if (regFunction === null && (c === 0x52 /* R */ || c === 0x70 /* p */ || c === 0x50 /* P */)) {
      regFunction = functionFromRegLine(line)
      if (regFunction !== null) continue
    }
    if (dieCount === null && line.includes(' [#')) {
      const m = DIE_COUNT.exec(line)
      if (m !== null) dieCount = Number(m[1])
    }
    if (!sawCpuLine && taint === null && (c === 0x20 || c === 0x09)) {
      // hung task: `      Not tainted 6.1.0-56-cloud-amd64 #1`
      const m = TAINT_LINE.exec(line)
      if (m !== null) {
        taint = m[1] === undefined ? '' : m[1].replace(/\s+/g, '')
        release = m[2]!
        continue
      }
    }
    if (c === 0x74 /* t */ && pid === null) {
      const m = TASK_LINE.exec(line)
      if (m !== null) { comm = m[1]!.trim(); pid = Number(m[2]) }
    }
    if (type === 'oom' && details.killedPid === undefined) {
      const m = /Killed process (\d+) \(([^)]*)\)/.exec(line)
      if (m !== null) { details.killedPid = Number(m[1]); details.killedComm = m[2]! }
    }
  }

  // What the title says, for the types whose title names the task or CPU.
  switch (type) {
    case 'hung_task': {
      const m = /^INFO: task (.+):(\d+) blocked for more than (\d+) seconds/.exec(title)
      if (m !== null) {
        comm ??= m[1]!; pid ??= Number(m[2])
        details.blockedSeconds = Number(m[3])
      }
      break
    }
    case 'soft_lockup': {
      const m = /CPU#(\d+) stuck for (\d+)s! \[(.+):(\d+)\]/.exec(title)
      if (m !== null) {
        cpu ??= Number(m[1]); comm ??= m[3]!; pid ??= Number(m[4])
        details.stuckSeconds = Number(m[2])
      }
      break
    }
    case 'hard_lockup': {
      const m = /on cpu (\d+)/.exec(title)
      if (m !== null) cpu ??= Number(m[1])
      break
    }
    case 'oom': {
      const m = /^(.+?) invoked oom-killer: /.exec(title)
      if (m !== null) comm ??= m[1]!
      const g = /gfp_mask=(0x[0-9a-f]+)(?:\(([^)]*)\))?, order=(-?\d+)/.exec(title)
      if (g !== null) { details.gfpMask = g[1]!; if (g[2] !== undefined) details.gfpFlags = g[2]; details.order = Number(g[3]) }
      for (const line of lines) {
        const k = /^oom-kill:constraint=(\w+)/.exec(line)
        if (k !== null) { details.constraint = k[1]!; break }
      }
      break
    }
    case 'kasan': case 'kfence': {
      // `Write of size 4 at addr ffff888003ff8b00 by task insmod/123`
      for (const line of lines) {
        const m = /^(Read|Write) of size (\d+) at addr \S+ by task (.+)\/(\d+)/.exec(line)
        if (m !== null) {
          details.access = m[1]!.toLowerCase(); details.size = Number(m[2])
          comm ??= m[3]!; pid ??= Number(m[4])
          break
        }
      }
      break
    }
  }

  const trace = readTrace(lines)
  let frames = trace.frames
  let fn = regFunction
  if (fn === null && (type === 'kasan' || type === 'kfence')) {
    // `BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right+0x1/0x2 [test_kasan]`: no RIP, the title names it.
    const m = / in ([A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[^\]]+\])?)/.exec(title)
    if (m !== null) fn = m[1]!
  }
  let message: string | null = null
  if (type === 'panic') {
    message = title.replace(/^Kernel panic - not syncing: /, '').trim()
    // `Fatal exception` (oops_end() with panic_on_oops, or in interrupt) names no cause and the
    // kernel prints no second stack: the oops just before it is the cause.
    if (/^Fatal exception/.test(message) && frames.length === 0 && opts.cause != null) {
      frames = opts.cause.frames
      fn ??= opts.cause.function
      details.causeType = opts.cause.type
    }
  } else if (opts.preLines !== undefined && opts.preLines.length > 0) {
    message = opts.preLines.join('\n')
  }
  if (fn === null) {
    for (const f of frames) {
      if (!isBoilerplate(bareSymbol(f))) { fn = f; break }
    }
  }
  if (dieCount !== null) details.dieCount = dieCount

  // Signature: type, the panic message (it says why), then the faulting function and the top
  // frames as bare symbols. Boilerplate and repeats are skipped, so 6.1's
  // `__handle_sysrq.cold+0x44/0x11c` and 6.12's `__handle_sysrq+0xa7/0x1a0` agree.
  const parts: string[] = [type]
  if (type === 'panic' && message !== null) parts.push(normalizeText(message))
  if (type === 'oom') {
    // An OOM kill is not a bug at a code location: what repeats across a fleet is the
    // constraint (global, memcg, cpuset) and the process that keeps getting killed.
    parts.push(String(details.constraint ?? 'unknown'), String(details.killedComm ?? comm ?? 'unknown'))
  }
  const sig: string[] = []
  const push = (f: string): void => {
    const b = bareSymbol(f)
    if (isBoilerplate(b) || sig[sig.length - 1] === b || sig.length >= opts.signatureFrames) return
    sig.push(b)
  }
  if (type !== 'oom') {
    if (fn !== null) push(fn)
    for (const f of frames) push(f)
    if (sig.length > 0) parts.push(...sig)
    else if (type !== 'panic') parts.push(normalizeText(title))
  }
  const signature = parts.join('|')

  const fnName = fn === null ? null : bareSymbol(fn)
  let summary: string
  if (type === 'panic') summary = `Kernel panic: ${message ?? ''}`
  else if (type === 'oops' || type === 'bug') {
    const head = /^(BUG: [^,]*?)(?:,| at | for | in |$)/.exec(title)?.[1] ?? TYPE_LABEL[type]!
    summary = fnName === null ? head : `${head} in ${fnName}`
  } else if (type === 'oom') {
    summary = details.killedComm !== undefined ? `out of memory: killed ${String(details.killedComm)}` : 'out of memory'
  } else if (type === 'ubsan') summary = title
  else summary = fnName === null ? title : `${TYPE_LABEL[type] ?? type} in ${fnName}`

  return {
    function: fn,
    frames,
    cpu,
    pid,
    comm,
    taint,
    release,
    hardware,
    modules,
    dieCount,
    message,
    summary,
    signature,
    signatureId: createHash('sha256').update(signature).digest('hex').slice(0, 16),
    details
  }
}
