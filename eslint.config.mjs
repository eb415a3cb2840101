// ESLint: correctness rules for the TypeScript sources and the scripts. The layout is Prettier's
// (.prettierrc.json); the one layout rule here is the line length, for what Prettier does not
// break (comments, strings). `npm run lint` runs both with no warning allowed.
// Type-aware rules are left out: they need a TypeScript program and triple the lint time.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'benchmarks/results/', 'benchmarks/runs/', 'test/consumer/out/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly' },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@stylistic': stylistic },
    rules: {
      // Code and comments under 120 characters. A line whose only long part is a string, template or
      // regex literal (a test's name, an expected message) is left whole: split, it reads worse.
      '@stylistic/max-len': [
        'error',
        { code: 119, tabWidth: 2, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true },
      ],
      // As TypeScript's noUnusedLocals/noUnusedParameters: `_name` and rest siblings mark what is left out on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // `let x;` before the `t.after(() => x?.stop())` that must be registered before x starts.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // A focused test silently skips the rest of the suite (grpc-js bans .only the same way).
      'no-restricted-properties': [
        'error',
        ...['describe', 'it', 'test', 'suite'].map((object) => ({
          object,
          property: 'only',
          message: 'a focused test skips all the others',
        })),
      ],
    },
  },
  {
    // Tests and examples read parsed JSON replies field by field: `unknown` would need a cast at each read.
    files: ['test/**', 'examples/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
