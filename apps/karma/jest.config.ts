export default {
  displayName: 'karma',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
