/**
 * ESLint flat config: typescript-eslint's type-aware rules (recommendedTypeChecked) on the
 * TypeScript, and @stylistic rules set to the style the code already has (standard-like: no
 * semicolons, 2 spaces, single quotes, a space before function parens), so it reports real
 * findings rather than churn. `npm run lint` runs it; see CONTRIBUTING.md, "Lint and unused code".
 * Every rule turned off or relaxed here says why.
 */
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const unusedVars = { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true }

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'native/build/**',
      'node_modules/**',
      '.bench/**',
      // Deliberately unparsable: the module loader's syntax-error case.
      'test/fixtures/modules/syntax-error.mjs'
    ]
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname
      }
    },
    rules: {
      // node:test's test()/describe()/it() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }]
      }],
      // Sink/Transport methods are `async` to honour a Promise-returning contract (a sync throw
      // becomes a rejection) even when the body has nothing to await.
      '@typescript-eslint/require-await': 'off',
      // Every finding was an explicit String(v) of a value narrowed at run time to a primitive (TS
      // cannot follow that narrowing); restrict-template-expressions still catches objects in templates.
      '@typescript-eslint/no-base-to-string': 'off',
      // As standard: unused arguments document a callback's signature; `{ type: _, ...rest }` omits a key.
      '@typescript-eslint/no-unused-vars': ['error', unusedVars],
      // Matching control characters is the point: escaping kernel text for files and syslog.
      'no-control-regex': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
      // A `let` a callback reads before it is assigned (the callback runs later) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }]
    }
  },
  {
    // The .mjs/.cjs scripts and fixture modules are not in tsconfig.json: plain-JS rules only.
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': 'off',
      'no-unused-vars': ['error', unusedVars]
    }
  },
  {
    files: ['test/**'],
    rules: {
      // Tests read parsed JSON (any) and poke at it; the assertions are the run-time check.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Tests wrap and stub methods on purpose (fs fakes, prototype patching, destructured node:path).
      '@typescript-eslint/unbound-method': 'off'
    }
  },
  stylistic.configs.customize({
    arrowParens: true,
    braceStyle: '1tbs',
    commaDangle: 'never',
    quoteProps: 'as-needed',
    jsx: false
  }),
  {
    rules: {
      '@stylistic/space-before-function-paren': ['error', 'always'],
      // As standard: `function * gen`, `yield * inner`, operators at the end of a wrapped line
      // (a union type's `|` and the ternary's `?`/`:` lead the line instead).
      '@stylistic/generator-star-spacing': ['error', 'both'],
      '@stylistic/yield-star-spacing': ['error', 'both'],
      '@stylistic/operator-linebreak': ['error', 'after', { overrides: { '?': 'before', ':': 'before', '|': 'before', '&': 'before' } }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      // Long argument and literal lists are wrapped to the line width, not one item per line.
      '@stylistic/list-style': 'off',
      // Short guarded one-liners (`if (x) { a(); b() }`, hash mixing steps) are deliberate.
      '@stylistic/max-statements-per-line': 'off'
    }
  },
  {
    // The receive-path loop wraps describe() without indenting its body, to keep these files' diffs small.
    files: ['test/daemon/captures.test.ts', 'test/daemon/lifecycle.test.ts'],
    rules: { '@stylistic/indent': 'off' }
  }
)
