export default {
  displayName: 'governance',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
