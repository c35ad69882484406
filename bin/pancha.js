#!/usr/bin/env node
// `npx pancha`: runs the CLI from dist/, building it first when dist/ is missing or older than the sources it is
// made from (a fresh clone, a pull), so it works right after `npm install`, offline. The build takes a few seconds.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist/tools/pancha/src/main.js');

/** Newest mtime of the .ts sources the CLI is compiled from (libs/ and tools/pancha; specs do not count). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'fixtures') walk(p);
      } else if (e.name.endsWith('.ts') && !/\.(spec|integration-spec|e2e-spec)\.ts$/.test(e.name)) {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  walk(path.join(root, 'libs'));
  walk(path.join(root, 'tools/pancha/src'));
  return newest;
}

function stale() {
  if (!existsSync(entry)) return true;
  if (!existsSync(path.join(root, 'libs'))) return false; // an installed copy without sources: run what is there
  return newestSource() > statSync(entry).mtimeMs;
}

if (stale()) {
  if (process.stderr.isTTY) process.stderr.write('pancha: building dist/ (first run or sources changed)…\n');
  const built = spawnSync(process.execPath, [path.join(root, 'tools/build/build.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (built.status !== 0 || !existsSync(entry)) {
    process.stderr.write('pancha: the build failed (node tools/build/build.mjs); fix it and run again\n');
    process.exit(2);
  }
}
require(entry);
