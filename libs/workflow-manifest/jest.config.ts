export default {
  displayName: 'workflow-manifest',
  preset: '../../jest.preset.js',
  rootDir: '.',
};
