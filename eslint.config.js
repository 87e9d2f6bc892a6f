// Lint configuration: typescript-eslint's recommended rules plus the project's few house rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.lifeboat/**', 'hack/bins/**', 'dist/**', 'src/console/web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error'],
    },
  },
  { files: ['src/cli/**', 'hack/**', 'bench/**', 'bin/**'], rules: { 'no-console': 'off' } },
  // The console's page runs in the browser.
  {
    files: ['src/console/web/**'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', EventSource: 'readonly', performance: 'readonly', requestAnimationFrame: 'readonly', URLSearchParams: 'readonly', HTMLElement: 'readonly' } },
  },
);
