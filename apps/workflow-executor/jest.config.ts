export default {
  displayName: 'workflow-executor',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
