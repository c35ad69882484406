export default {
  displayName: 'core-client',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
