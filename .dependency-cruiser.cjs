/**
 * dependency-cruiser rules for `npm run lint:deps` (engine/src and player/src).
 *
 * No import cycles: the flow is source → decode → model → track → mask → sink, and a cycle means a
 * piece sits on the wrong side of an arrow (docs/architecture.md). No orphans: a source file
 * nothing imports and that is no entry point is dead code or a forgotten wire-up.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: move the shared piece to the module earlier in the flow (docs/architecture.md).',
      from: {},
      // Type-only imports count too: a cycle of types is still two files that cannot be read apart.
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      severity: 'error',
      comment: 'Two folders that import each other (decode/ ↔ source/): the flow runs one way between the stages (docs/architecture.md).',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A file nothing imports: wire it up or delete it (entry points are listed in pathNot).',
      from: {
        orphan: true,
        pathNot: [
          '\\.d\\.ts$',
          // entry points: the library barrel, the CLI, the bench, worker threads, the player's page
          '^engine/src/index\\.ts$',
          '^engine/src/cli/main\\.ts$',
          '^engine/src/bench/main\\.ts$',
          '-worker\\.ts$',
          '^player/src/main\\.tsx$',
        ],
      },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'] },
  },
};
