// Compiles apps/, libs/ and tools/ with SWC into dist/ (same tree), copying config files (YAML) beside the JS.
// SWC rewrites the @pancha/* path aliases to relative requires, so dist/ runs on plain `node`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const swc = require.resolve('@swc/cli/bin/swc.js');

// --if-missing: for commands (the token CLI) that only need a build to exist. The build never wipes dist/,
// so rebuilding while the stack runs from it is safe (`npm run clean` removes it).
if (process.argv.includes('--if-missing') && existsSync(path.join(root, 'dist/tools/token/src/main.js'))) process.exit(0);
const result = spawnSync(
  process.execPath,
  [
    swc, 'apps', 'libs', 'tools', '-d', 'dist', '--config-file', '.swcrc', '--copy-files', '--quiet',
    '--ignore', '**/*.spec.ts,**/*.integration-spec.ts,**/*.e2e-spec.ts,**/jest.config.ts,**/*.md,**/eslint.config.mjs,**/project.json,**/tsconfig*.json,apps/prana/web/**',
  ],
  { cwd: root, stdio: 'inherit' },
);
if (result.status !== 0) process.exit(result.status ?? 1);

// PRANA's console (React + Vite) into dist/apps/prana/web, which the PRANA BFF serves at /.
const vite = spawnSync(process.execPath, [path.join(path.dirname(require.resolve('vite/package.json')), 'bin/vite.js'), 'build', '--logLevel', 'warn'], {
  cwd: path.join(root, 'apps/prana/web'),
  stdio: 'inherit',
  env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' },
});
process.exit(vite.status ?? 1);
