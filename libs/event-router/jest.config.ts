export default {
  displayName: 'event-router',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
