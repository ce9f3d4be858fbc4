// Lint: typescript-eslint's type-aware recommended rules over everything tsc checks (src,
// workers, bench, test). Two settings differ from the preset, each for a reason:
// - node:test's test()/describe() return promises the runner itself tracks; awaiting them at
//   the top level of a test file would serialize suites the runner may run otherwise.
// - `async` without `await` is this codebase's way of making an API reject instead of throw
//   (DESIGN.md: async APIs reject, never throw synchronously), so require-await is off.
// - A caught `unknown` passed on to a rejection is the caller's error, not ours to wrap.
// - `_`-named bindings and rest siblings are deliberate discards.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'examples/**', '**/*.mjs', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/require-await': 'off',
      // A binding read by a closure before its one assignment cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
);
