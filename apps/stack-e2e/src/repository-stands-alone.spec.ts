/**
 * The repository stands alone and every piece of code is under the module boundaries: a fresh clone holds the
 * contract its code cites (docs/), every link in its docs resolves, and every TypeScript file belongs to an Nx
 * project with scope and type tags, so `@nx/enforce-module-boundaries` judges its imports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const SKIP = new Set(['node_modules', 'dist', '.data', 'tmp', '.git', '.nx', 'coverage']);
const TEXT = /\.(ts|mjs|js|json|md|ya?ml|sh|example)$|^Dockerfile$|^\.env\.example$|^run$/;

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

const rel = (file: string) => path.relative(root, file);
const files = walk(root).filter((f) => TEXT.test(path.basename(f)) && !rel(f).startsWith('package-lock'));
const read = (file: string) => readFileSync(file, 'utf8');

describe('the repository stands alone', () => {
  it('cites no file outside it (the contract lives in docs/, not in ../shared)', () => {
    const outside = files.filter((f) => /\.\.\/shared\/|\/work\/shared/.test(read(f))).map(rel);
    expect(outside).toEqual([]);
  });

  it('holds the contract documents its code and docs name', () => {
    for (const doc of ['SPEC.md', 'KARMA.md', 'PRANA.md', 'WORKFLOWS.md', 'ARCHITECTURE.md']) {
      expect({ doc, exists: existsSync(path.join(root, 'docs', doc)) }).toEqual({ doc, exists: true });
    }
    const named = new Set<string>();
    for (const f of files) for (const m of read(f).matchAll(/\bdocs\/([\w-]+\.md)\b/g)) named.add(m[1]);
    expect([...named].filter((doc) => !existsSync(path.join(root, 'docs', doc)))).toEqual([]);
  });

  it('cites only sections docs/SPEC.md has (`SPEC §n`)', () => {
    const sections = new Set([...read(path.join(root, 'docs/SPEC.md')).matchAll(/^## (\d+)\./gm)].map((m) => m[1]));
    expect(sections.size).toBeGreaterThanOrEqual(6);
    const dangling = files.flatMap((f) =>
      [...read(f).matchAll(/SPEC §(\d+)/g)].filter((m) => !sections.has(m[1])).map((m) => `${rel(f)}: ${m[0]}`),
    );
    expect(dangling).toEqual([]);
  });

  it('has no relative link in its Markdown that leads nowhere', () => {
    const broken: string[] = [];
    for (const f of files.filter((x) => x.endsWith('.md'))) {
      for (const [, target] of read(f).matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue; // http:, mailto:
        if (!existsSync(path.resolve(path.dirname(f), target))) broken.push(`${rel(f)} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('every TypeScript file is in a tagged Nx project', () => {
  const projectRoots = files
    .filter((f) => path.basename(f) === 'project.json')
    .map((f) => path.dirname(f));

  it('each project.json has a scope:* and a type:* tag', () => {
    const untagged = projectRoots.filter((dir) => {
      const tags: string[] = JSON.parse(read(path.join(dir, 'project.json'))).tags ?? [];
      return !tags.some((t) => t.startsWith('scope:')) || !tags.some((t) => t.startsWith('type:'));
    });
    expect(untagged.map(rel)).toEqual([]);
  });

  it('no .ts file under apps/, libs/ or tools/ lies outside a project (where no boundary would be checked)', () => {
    const inProject = (file: string) => projectRoots.some((dir) => file.startsWith(dir + path.sep));
    const orphans = files
      .filter((f) => f.endsWith('.ts') && /^(apps|libs|tools)\//.test(rel(f)))
      .filter((f) => !inProject(f))
      .map(rel);
    expect(orphans).toEqual([]);
  });

  it('nothing outside an app reaches into an app by path (tools and libs go through HTTP or a lib)', () => {
    const appDirs = projectRoots.filter((dir) => rel(dir).startsWith('apps/'));
    const offenders: string[] = [];
    for (const f of files.filter((x) => x.endsWith('.ts'))) {
      const own = appDirs.find((dir) => f.startsWith(dir + path.sep));
      for (const [, spec] of read(f).matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = path.resolve(path.dirname(f), spec);
        const app = appDirs.find((dir) => target.startsWith(dir + path.sep));
        if (app && app !== own) offenders.push(`${rel(f)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
