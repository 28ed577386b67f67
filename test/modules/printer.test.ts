import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatPrinterLine } from '../../src/modules/printer.js'
import { rec } from '../helpers/records.js'

test('printer lines match C netconsd printer.so', () => {
  assert.equal(formatPrinterLine(rec({ src: '::1', seq: 100, tsUsec: 5000, level: 6, seqReset: true, text: 'hello world' })),
    '                                     ::1:  S000100 T00000000005000 F0/L6 [SEQ RESET] hello world\n')
  assert.equal(formatPrinterLine(rec({ src: '::1', seq: 102, tsUsec: 5002, release: '6.5.0', text: 'rel' })),
    '                                     ::1: 6.5.0 S000102 T00000000005002 F0/L6 rel\n')
  assert.equal(formatPrinterLine(rec({ src: '::1', format: 'legacy', text: 'legacy line\n' })),
    '                                     ::1: legacy line\n\n')
  assert.match(formatPrinterLine(rec({ oos: true, contStart: true, lostBefore: 3, facility: 1, level: 4 })), /F1\/L4 \[CONT START\] \[OOS\] \[LOST 3\] hello\n$/)
})

test('extended text is printed in the kernel\'s escaped form, as netconsd\'s printer prints what libncrx hands out', () => {
  // An OOM report line holds the kernel's \x0a: one line with the escape kept, never several lines.
  const line = formatPrinterLine(rec({ src: '::1', seq: 9, tsUsec: 1, text: 'active_anon:1 \n active_file:2 caf\u00e9 back\\slash' }))
  assert.equal(line, '                                     ::1:  S000009 T00000000000001 F0/L6 active_anon:1 \\x0a active_file:2 caf\\xc3\\xa9 back\\x5cslash\n')
  // ncrx's wire body, when kept, is printed as it came (up to the first newline).
  const wired = Object.assign(rec({ src: '::1', seq: 9, tsUsec: 1, text: 'x' }), { wire: Buffer.from('as\\x0asent\n DICT=1\n') })
  assert.match(formatPrinterLine(wired), / as\\x0asent\n$/)
})
