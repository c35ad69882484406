export default {
  displayName: 'bucket-client',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
