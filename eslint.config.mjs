import tseslint from 'typescript-eslint';

/** no-restricted-imports for the floors below: an import path matching `regex` crosses one. */
const crossing = (regex) => [
  'error',
  { patterns: [{ regex, message: 'crosses a floor (README, Layout): move what both sides need to common/' }] },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'charts-out/**',
      'service/src/generated/**',
      'infra/imports/*.ts', // cdk8s import's output (infra/imports/import.sh)
      'node_modules/**',
      'coverage/**',
      'loadtest/results/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // The floors (README's layout): common/ imports neither service/ nor infra/; the service never
  // imports infra/; infra/ reads only the service's config schema (preflight, the configuration docs).
  // Tests may import anything.
  {
    files: ['common/**/*.ts'],
    ignores: ['common/test/**'],
    rules: { 'no-restricted-imports': crossing('(^|/)(service|infra)/') },
  },
  {
    files: ['service/src/**/*.ts', 'service/bin/**/*.ts'],
    rules: { 'no-restricted-imports': crossing('(^|/)infra/') },
  },
  {
    files: ['infra/**/*.ts'],
    ignores: ['infra/test/**', 'infra/**/test/**', 'infra/image-test/**'],
    rules: { 'no-restricted-imports': crossing('(^|/)service/(?!src/config$)') },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
