import base from '../../eslint.config.mjs';

// A command-line tool: printing to the console is its job.
export default [...base, { files: ['**/*.ts'], rules: { 'no-console': 'off' } }];
