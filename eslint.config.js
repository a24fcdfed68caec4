// @ts-check
// typescript-eslint's type-checked rules over the sources, jobs, tests and scripts (`npm run lint`, run by .ci/run).
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'test/bench/.data/', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Off: fastify route handlers and BullMQ processors are async so that a returned value or throw becomes the reply or outcome.
      '@typescript-eslint/require-await': 'off',
      // Off: rejecting ids that contain control characters is what src/domain/validate.ts's regexes are for.
      'no-control-regex': 'off',
    },
  },
  {
    // No line over 140 characters, comments, strings and URLs included: Prettier wraps code but not those.
    plugins: { '@stylistic': stylistic },
    rules: { '@stylistic/max-len': ['error', { code: 140, ignoreUrls: false }] },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // node:test's describe/it/test return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      // Off in tests: they read JSON bodies and Prometheus text as `any` and assert on them; a wrong shape fails the assertion.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
