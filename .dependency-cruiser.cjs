/**
 * The components' boundaries (STYLE.md "Layout", issue 10), checked by `npm run lint`:
 * dependency-cruiser resolves every import of src/ (type-only ones too) and fails on these.
 */
const COMPONENT = '^src/([^/]+)/';
module.exports = {
  forbidden: [
    {
      name: 'only-through-index',
      comment: 'A component imports another only through its index.ts or the index.ts of one of its parts (a subfolder), never its internals. A part\'s index is the light way in: the CLI loads only what its command uses.',
      severity: 'error',
      from: { path: COMPONENT },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', '^src/[^/]+/[^/]+/index\\.ts$'] },
    },
    {
      name: 'openstack-is-a-client',
      comment: 'src/openstack is a client of OpenStack: it imports nothing of the scenario.',
      severity: 'error',
      from: { path: '^src/openstack/' },
      to: { path: '^src/(orchestrator|monitor|inspector|consumer|profiler|lab|cli)/' },
    },
    {
      name: 'services-know-no-lab',
      comment: 'The monitor, inspector and consumer run against any cloud: they never import the lab.',
      severity: 'error',
      from: { path: '^src/(monitor|inspector|consumer)/' },
      to: { path: '^src/lab/' },
    },
    {
      name: 'monitor-and-inspector-apart',
      comment: 'The monitor and the inspector meet only on the wire (PUT /events).',
      severity: 'error',
      from: { path: '^src/(monitor|inspector)/' },
      to: { path: '^src/(monitor|inspector)/', pathNot: '^src/$1/' },
    },
    {
      name: 'shared-is-the-bottom',
      comment: 'src/shared imports nothing above it.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles make load order matter.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
