import { getJestProjectsAsync } from '@nx/jest';

export default async () => ({
  projects: await getJestProjectsAsync(),
  // Global, not per project: in a multi-project run Jest ignores a project's own testTimeout. Five seconds (Jest's
  // default) is less than booting a service or rendering a React Flow graph takes on a busy 2-core machine; a file
  // that needs longer still says so with jest.setTimeout.
  testTimeout: 30_000,
});
