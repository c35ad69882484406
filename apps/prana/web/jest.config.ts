// Component tests of the console: jsdom, React's automatic JSX runtime through SWC, *.spec.tsx only (the
// BFF's jest config one level up runs *.spec.ts, so the two never pick up each other's files).
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');

export default {
  displayName: 'prana-web',
  // Rendering React Flow and Recharts in jsdom on a busy 2-core machine takes seconds, not milliseconds (this
  // applies when the project runs alone; `npm test` runs all projects, where the root config's testTimeout does).
  testTimeout: 30_000,
  rootDir: '.',
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/src/**/*.spec.tsx'],
  moduleFileExtensions: ['tsx', 'ts', 'js', 'mjs', 'json'],
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      {
        swcrc: false,
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', tsx: true },
          transform: { react: { runtime: 'automatic' } },
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleNameMapper: {
    '^@pancha/prana-telemetry$': path.join(root, 'libs/prana-telemetry/src/index.ts'),
    '\\.css$': path.join(__dirname, 'src/testing/style-stub.ts'),
  },
  setupFilesAfterEnv: [path.join(__dirname, 'src/testing/setup.ts')],
};
