export default {
  displayName: 'prana-telemetry',
  preset: '../../jest.preset.js',
  rootDir: '.',
  // The client runs in a browser: document, localStorage, visibility and focus events come from jsdom.
  testEnvironment: 'jsdom',
};
