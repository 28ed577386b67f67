/**
 * Message builders for the load generator and tests: byte-exact extended netconsole records,
 * the kernel's fragmentation (research spec §10.6), and the legacy console form.
 */

/** `<prio>,<seq>,<ts>,-;<text>\n[ dict lines]` — one extended record, unfragmented. */
export function extendedRecord (o: { level?: number, facility?: number, seq: number, tsUsec: number, text: string, dict?: Array<[string, string]>, release?: string }): Buffer {
  const prio = (o.facility ?? 0) * 8 + (o.level ?? 6)
  let body = escapeText(o.text) + '\n'
  for (const [k, v] of o.dict ?? []) body += ` ${k}=${v}\n`
  return Buffer.from(`${o.release !== undefined ? o.release + ',' : ''}${prio},${o.seq},${o.tsUsec},-;${body}`, 'latin1')
}

/** The kernel's escaping: bytes < 0x20, >= 0x7f and `\` become `\xNN` (Documentation/ABI/testing/dev-kmsg). */
export function escapeText (text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  let out = ''
  for (const b of bytes) {
    out += (b < 0x20 || b >= 0x7f || b === 0x5c) ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b)
  }
  return out
}

/**
 * Splits a record the way netconsole does when it exceeds 1000 bytes: header gets
 * `,ncfrag=<off>/<total>` before `;`, every datagram but the last is exactly `chunk` bytes.
 */
export function fragmentRecord (record: Buffer, chunk = 1000): Buffer[] {
  if (record.length <= chunk) return [record]
  const semi = record.indexOf(0x3b)
  const header = record.subarray(0, semi).toString('latin1')
  const body = record.subarray(semi + 1)
  const out: Buffer[] = []
  let off = 0
  while (off < body.length) {
    const prefix = Buffer.from(`${header},ncfrag=${off}/${body.length};`, 'latin1')
    const n = Math.min(body.length - off, chunk - prefix.length)
    out.push(Buffer.concat([prefix, body.subarray(off, off + n)]))
    off += n
  }
  return out
}

/** `[    5.123456] text\n` — the legacy console form. */
export function legacyLine (tsUsec: number, text: string): Buffer {
  const sec = Math.floor(tsUsec / 1e6)
  const usec = String(tsUsec % 1e6).padStart(6, '0')
  return Buffer.from(`[${String(sec).padStart(5)}.${usec}] ${text}\n`, 'utf8')
}

/** A short x86-64 NULL-dereference oops, line by line, as the kernel logs it. */
export function oopsLines (comm = 'bash', pid = 1234): Array<{ level: number, text: string }> {
  return [
    { level: 1, text: 'BUG: kernel NULL pointer dereference, address: 0000000000000000' },
    { level: 1, text: '#PF: supervisor write access in kernel mode' },
    { level: 1, text: '#PF: error_code(0x0002) - not-present page' },
    { level: 6, text: 'PGD 0 P4D 0 ' },
    { level: 4, text: 'Oops: 0002 [#1] PREEMPT SMP NOPTI' },
    { level: 4, text: `CPU: 1 PID: ${pid} Comm: ${comm} Tainted: G           O       6.1.0-56-cloud-amd64 #1  Debian 6.1.192-2` },
    { level: 4, text: 'Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014' },
    { level: 4, text: 'RIP: 0010:blast_null_write+0x11/0x20 [blastmod]' },
    { level: 4, text: 'Call Trace:' },
    { level: 4, text: ' <TASK>' },
    { level: 4, text: ' blast_write+0x3a/0x60 [blastmod]' },
    { level: 4, text: ' proc_reg_write+0x56/0xa0' },
    { level: 4, text: ' vfs_write+0xcb/0x3f0' },
    { level: 4, text: ' ksys_write+0x6f/0xf0' },
    { level: 4, text: ' do_syscall_64+0x55/0x90' },
    { level: 4, text: ' entry_SYSCALL_64_after_hwframe+0x64/0xce' },
    { level: 4, text: ' </TASK>' },
    { level: 4, text: 'Modules linked in: blastmod(O) netconsole' },
    { level: 4, text: 'CR2: 0000000000000000' },
    { level: 4, text: '---[ end trace 0000000000000000 ]---' }
  ]
}
