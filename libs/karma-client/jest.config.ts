export default {
  displayName: 'karma-client',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
