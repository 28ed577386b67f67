import type { NetconsRecord } from '../../src/types.js'

/** A complete extended log record with overridable fields, for unit tests. */
export function rec (over: Partial<NetconsRecord> = {}): NetconsRecord {
  return {
    kind: 'log',
    format: 'extended',
    src: '::ffff:10.0.0.1',
    srcPort: 6665,
    host: { name: 'h', address: '::ffff:10.0.0.1', labels: {} },
    thread: 1,
    seq: 7,
    facility: 0,
    level: 6,
    tsUsec: 1000,
    text: 'hello',
    raw: Buffer.from('hello'),
    dict: [],
    release: null,
    contStart: false,
    cont: false,
    oos: false,
    seqReset: false,
    incomplete: false,
    lostBefore: 0,
    receivedAt: 0,
    attributes: {},
    ...over,
    // `raw` is the bytes `text` came from (src/types.ts): follow an overridden text unless raw is given too.
    ...(over.raw === undefined && over.text !== undefined ? { raw: Buffer.from(over.text) } : {})
  }
}
