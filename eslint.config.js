/**
 * ESLint flat config: typescript-eslint's type-aware rules (recommendedTypeChecked) on the
 * TypeScript, and @stylistic rules set to the style the code already has (standard-like: no
 * semicolons, 2 spaces, single quotes, a space before function parens), so it reports real
 * findings rather than churn. `npm run lint` runs it; see CONTRIBUTING.md, "Lint and unused code".
 */
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import globals from 'globals'
import tseslint from 'typescript-eslint'

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
      }]
    }
  },
  {
    // The .mjs/.cjs scripts and fixture modules are not in tsconfig.json: plain-JS rules only.
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node }
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
      // Long argument and literal lists are wrapped to the line width, not one item per line.
      '@stylistic/list-style': 'off',
      // Short guarded one-liners (`if (x) { a(); b() }`, hash mixing steps) are deliberate.
      '@stylistic/max-statements-per-line': 'off'
    }
  }
)
