export default {
  displayName: 'core',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
