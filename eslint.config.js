// Lint rules in the spirit of STYLE.md, plus the rules that keep workflow code deterministic.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Top-level mutable state in a workflow file would be shared by every run on a worker. */
const workflowModuleState = [
  {
    selector: 'Program > VariableDeclaration[kind=/let|var/]',
    message: 'workflows/: no top-level let/var; keep run state inside the workflow function',
  },
  {
    selector: 'Program > ExportNamedDeclaration > VariableDeclaration[kind=/let|var/]',
    message: 'workflows/: no top-level let/var; keep run state inside the workflow function',
  },
  {
    selector:
      'Program > VariableDeclaration[kind=const] > VariableDeclarator > :matches(NewExpression, ArrayExpression, ObjectExpression)',
    message:
      'workflows/: no top-level mutable objects (Map, Set, array, object); build them per run',
  },
  {
    selector:
      'Program > ExportNamedDeclaration > VariableDeclaration[kind=const] > VariableDeclarator > :matches(NewExpression, ArrayExpression, ObjectExpression)',
    message:
      'workflows/: no top-level mutable objects (Map, Set, array, object); build them per run',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', '.tools/', 'test/histories/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...workflowModuleState],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'child_process'],
              message: 'workflows/ run in a sandbox without Node APIs',
            },
            {
              group: [
                'pg',
                'pino',
                'fastify',
                '@electric-sql/*',
                '@temporalio/activity',
                '@temporalio/worker',
                '@temporalio/client',
              ],
              message: 'workflows/ may not load I/O packages',
            },
            {
              group: ['../activities/*'],
              allowTypeImports: true,
              message: 'import activities as types only',
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
);
