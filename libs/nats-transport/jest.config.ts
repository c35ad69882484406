export default {
  displayName: 'nats-transport',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
