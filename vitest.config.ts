import { defineConfig } from 'vitest/config';

/**
 * Two projects: "fast" (everything on the embedded lab, files in parallel) and
 * "openstack" (the real all-in-one lab: one file at a time, after the fast
 * suite, with room for services that take a minute to come up).
 */
export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: ['test/openstack-lab/**'] } },
      { extends: true, test: { name: 'openstack', include: ['test/openstack-lab/**/*.test.ts'], fileParallelism: false, testTimeout: 300_000, hookTimeout: 600_000 } },
    ],
  },
});
