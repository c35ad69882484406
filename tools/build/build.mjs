// Compiles apps/, libs/ and tools/ with SWC into dist/ (same tree), copying config files (YAML) beside the JS.
// SWC rewrites the @pancha/* path aliases to relative requires, so dist/ runs on plain `node`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const swc = require.resolve('@swc/cli/bin/swc.js');

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const result = spawnSync(
  process.execPath,
  [
    swc, 'apps', 'libs', 'tools', '-d', 'dist', '--config-file', '.swcrc', '--copy-files', '--quiet',
    '--ignore', '**/*.spec.ts,**/*.integration-spec.ts,**/*.e2e-spec.ts,**/jest.config.ts,**/*.md,**/eslint.config.mjs,**/project.json,**/tsconfig*.json',
  ],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
