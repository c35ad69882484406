export default {
  displayName: 'plugin-slack-webhook',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
