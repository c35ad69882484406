// Shared Jest preset: SWC transform (decorator metadata on, @pancha/* paths rewritten like the build).
const path = require('node:path');
const fs = require('node:fs');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcrc.$schema;
swcrc.jsc.baseUrl = __dirname;
swcrc.module = { type: 'commonjs' };

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { ...swcrc, swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['**/?(*.)+(spec|integration-spec|e2e-spec).ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // ESM-only packages Jest's CommonJS runtime cannot load untransformed (Node itself requires them fine).
  transformIgnorePatterns: ['/node_modules/(?!(@marcbachmann/cel-js|oidc-provider|openid-client|oauth4webapi|jose)/)'],
  setupFiles: [path.join(__dirname, 'tools/test/jest-setup.js')],
};
