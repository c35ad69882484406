export default {
  displayName: 'pancha',
  preset: '../../jest.preset.js',
  rootDir: '.',
  // The tests run the built CLI as a user does: build it once (when stale) before any test file starts.
  globalSetup: '<rootDir>/jest.global-setup.js',
};
