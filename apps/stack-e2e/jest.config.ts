export default {
  displayName: 'stack-e2e',
  preset: '../../jest.preset.js',
  rootDir: '.',
  testTimeout: 120000,
};
