export default {
  displayName: 'dev-idp',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
