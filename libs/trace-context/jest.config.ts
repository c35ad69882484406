export default {
  displayName: 'trace-context',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
