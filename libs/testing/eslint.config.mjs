import base from '../../eslint.config.mjs';

// A command-line tool / test helper: printing to the console is its job.
export default [...base, { files: ['**/*.ts'], rules: { 'no-console': 'off' } }];
