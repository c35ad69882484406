export default {
  displayName: 'workflow-executor-client',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
