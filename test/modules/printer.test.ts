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
