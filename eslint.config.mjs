// Lints the AppSync resolver code (contracts/*.js, run by AppSync's APPSYNC_JS runtime) with
// AWS's own checker for that runtime: @aws-appsync/eslint-plugin's recommended rules, which
// refuse what APPSYNC_JS cannot run (try/catch, for(;;) and while loops, continue, classes, async,
// regex literals, ++, recursion, the `in` operator, built-in methods it lacks, ...). Some of
// them need type information: TypeScript's project service reads it from
// contracts/tsconfig.json. `make lint` runs `eslint contracts/`.
import appsync from '@aws-appsync/eslint-plugin';

export default [
  {
    files: ['contracts/*.js'],
    ...appsync.configs.recommended,
    languageOptions: {
      ...appsync.configs.recommended.languageOptions,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
];
