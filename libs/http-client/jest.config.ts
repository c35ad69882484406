export default {
  displayName: 'http-client',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
