// Builds dist/ once when it is missing or stale (what `npx pancha` does on first use), so test files running in
// parallel never race to build it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = () => {
  execFileSync(process.execPath, [path.join(__dirname, '../../bin/pancha.js'), '--version'], { stdio: 'ignore' });
};
