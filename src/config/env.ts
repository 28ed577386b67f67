/**
 * `${NAME}` / `${NAME:-default}` substitution in config string values, so secrets come from the
 * environment and never sit in the file. Applied to parsed values (never to raw text), so a value
 * cannot inject JSON5 syntax. `$${` is a literal `${`. Substituted values are always strings.
 */
import { escapePointer } from './locate.js'

const RE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export interface EnvIssue { pointer: string, message: string }

/** Substitutes in place, recursively; returns the problems (unset variables without a default). */
export function substituteEnv (value: unknown, env: NodeJS.ProcessEnv, issues: EnvIssue[], ptr = ''): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value
    return value.replace(RE, (whole, escaped: string, name: string, def: string | undefined) => {
      if (escaped === '$') return whole.slice(1)
      const v = env[name]
      if (v !== undefined && v !== '') return v
      if (def !== undefined) return def
      issues.push({ pointer: ptr, message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)` })
      return ''
    })
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = substituteEnv(value[i], env, issues, `${ptr}/${i}`)
    return value
  }
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>
    for (const k of Object.keys(o)) o[k] = substituteEnv(o[k], env, issues, `${ptr}/${escapePointer(k)}`)
    return o
  }
  return value
}
