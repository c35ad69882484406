export default {
  displayName: 'prana',
  preset: '../../jest.preset.js',
  rootDir: '.',
  // The console (web/) has its own tests and config.
  roots: ['<rootDir>/src'],
};
