import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkTemplate, lookup, renderTemplate, assertTemplate } from '../../../src/sinks/webhook/template.js'
import { VIEW_FIELDS, recordView } from '../../../src/sinks/webhook/presets.js'
import { makeTestRecord } from '../conformance.js'

const view = recordView(makeTestRecord({
  text: 'Oops: 0002 [#1] SMP',
  seq: 42,
  level: 1,
  host: { name: 'db-1', address: '::ffff:10.0.0.1', labels: { rack: 'r7' } },
  kind: 'incident',
  incident: { type: 'oops', title: 'BUG: unable to handle page fault', signature: 'oops:a|b', function: 'a', frames: ['a', 'b', 'c'] }
}), { sinkId: 'hook' })

describe('webhook template', () => {
  it('interpolates placeholders inside strings', () => {
    assert.deepEqual(renderTemplate({ text: '[{{levelName}}] {{host.name}} seq={{seq}}: {{text}}' }, view), { text: '[alert] db-1 seq=42: Oops: 0002 [#1] SMP' })
  })
  it('a whole-string placeholder keeps the JSON type', () => {
    assert.deepEqual(renderTemplate({ seq: '{{seq}}', frames: '{{incident.frames}}', labels: '{{ host.labels }}', no: '{{release}}' }, view), {
      seq: 42, frames: ['a', 'b', 'c'], labels: { rack: 'r7' }, no: null
    })
  })
  it('missing fields render as null or empty text, never throw', () => {
    assert.deepEqual(renderTemplate(['{{incident.nope.deeper}}', 'x{{incident.nope}}y'], view), [null, 'xy'])
  })
  it('templated keys, arrays and non-string leaves', () => {
    assert.deepEqual(renderTemplate({ '{{host.name}}': [1, true, null, '{{kind}}'] }, view), { 'db-1': [1, true, null, 'incident'] })
  })
  it('no prototype access', () => {
    assert.equal(lookup(view, '__proto__'), undefined)
    assert.equal(lookup(view, 'host.constructor'), undefined)
    assert.equal(lookup(view, 'text.length'), undefined, 'only own properties of objects')
    assert.deepEqual(renderTemplate('{{host.constructor.name}}', view), null)
    const out = renderTemplate({ '{{kind}}': 1, ['__proto__']: { polluted: true } }, view) as Record<string, unknown>
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    assert.equal(Object.getPrototypeOf(out), Object.prototype)
  })
  it('checkTemplate reports every bad placeholder with its JSON path', () => {
    const problems = checkTemplate({ a: '{{nope.x}}', b: ['{{host.name}}', '{{bad path}}'], c: '{{host.__proto__}}' }, VIEW_FIELDS)
    assert.equal(problems.length, 3)
    assert.match(problems[0]!, /^\/a:/)
    assert.match(problems[1]!, /^\/b\/1:/)
    assert.match(problems[2]!, /^\/c:/)
    assert.deepEqual(checkTemplate({ ok: '{{incident.frames}} {{dict.SUBSYSTEM}}' }, VIEW_FIELDS), [])
  })
  it('assertTemplate throws NETCONSD_ERR_SINK_OPTIONS naming the sink', () => {
    assert.throws(() => assertTemplate({ a: '{{nope}}' }, VIEW_FIELDS, 'pager'), (err: { code?: string, path?: string, errors?: string[] }) =>
      err.code === 'NETCONSD_ERR_SINK_OPTIONS' && err.path === 'sinks.pager.template' && err.errors?.length === 1)
  })
  it('a key rendered from a record field never replaces a literal key (issue 14, item 7)', () => {
    // A PTR name (or any sender-controlled field) that equals a literal key of the template.
    const hostile = recordView(makeTestRecord({ text: 'x', host: { name: 'service', address: '::ffff:10.0.0.9', labels: {} } }), { sinkId: 'hook' })
    const out = renderTemplate({ '{{host.name}}': 'from-record', service: 'netconsd', '{{text}}': 1, x: 2 }, hostile) as Record<string, unknown>
    assert.equal(out.service, 'netconsd')
    assert.equal(out.x, 2)
    // Whichever comes first in the template.
    const after = renderTemplate({ service: 'netconsd', '{{host.name}}': 'from-record' }, hostile) as Record<string, unknown>
    assert.deepEqual(after, { service: 'netconsd' })
    // Two rendered keys that collide: the first keeps its value.
    const twice = renderTemplate({ 'k-{{seq}}': 'a', 'k-{{ seq }}': 'b' }, view) as Record<string, unknown>
    assert.deepEqual(twice, { 'k-42': 'a' })
  })
  it('property: any JSON template renders to JSON without throwing', () => {
    const placeholder = fc.constantFrom('{{text}}', '{{host.name}}', '{{incident.frames}}', '{{nope}}', '{{seq}}', '{{ {{', '}}')
    const str = fc.array(fc.oneof(fc.string(), placeholder), { maxLength: 5 }).map((parts) => parts.join(''))
    const tpl = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, str, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(str, tie('node'), { maxKeys: 4 }))
    })).node
    fc.assert(fc.property(tpl, (t) => {
      const out = renderTemplate(t, view)
      assert.doesNotThrow(() => JSON.stringify(out))
    }), { numRuns: 300 })
  })
})
