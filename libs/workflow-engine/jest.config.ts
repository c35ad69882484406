export default {
  displayName: 'workflow-engine',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
