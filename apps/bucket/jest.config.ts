export default {
  displayName: 'bucket',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
