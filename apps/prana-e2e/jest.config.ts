export default {
  displayName: 'prana-e2e',
  preset: '../../jest.preset.js',
  rootDir: '.',
  testTimeout: 300_000,
  // One stack and one browser per file; files one after another (each boots a whole stack).
  maxWorkers: 1,
};
