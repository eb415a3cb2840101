/**
 * Docs that point at what exists: every relative link (and its heading anchor) and every file
 * named in the repository's Markdown resolves. Build outputs (`dist/...`) count when their
 * source exists.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { anchorsOf, brokenReferences, headingAnchor } from './helpers/markdown-refs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** README.md, docs/*.md, examples/<name>/README.md and benchmarks/README.md. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(ROOT, 'docs', name));
  const examples = readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(ROOT, 'examples', entry.name, 'README.md'))
    .filter((path) => readdirSync(join(path, '..')).includes('README.md'));
  return [join(ROOT, 'README.md'), ...docs, ...examples, join(ROOT, 'benchmarks', 'README.md')];
}

describe('Markdown references', () => {
  it('every relative link, anchor and file reference in the docs resolves', () => {
    const files = markdownFiles();
    assert.ok(files.length >= 10, files.join(', '));
    const broken = files.flatMap((file) => brokenReferences(file, ROOT));
    assert.deepEqual(
      broken.map((b) => `${b.file}:${b.line}: ${b.reference}: ${b.problem}`),
      [],
    );
  });

  it('computes anchors as GitHub does', () => {
    assert.equal(headingAnchor('Shadow traffic: `split.setMirror(options)`'), 'shadow-traffic-splitsetmirroroptions');
    assert.equal(headingAnchor('grpc-js versions'), 'grpc-js-versions');
    assert.deepEqual([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n### B c\n')], ['a', 'a-1', 'b-c']);
  });

  it('finds a broken link, a missing anchor, a missing file and a build output without a source', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'md-refs-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'docs'));
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'there.ts'), '');
    writeFileSync(join(root, '.gitignore'), 'node_modules/\nout/\n');
    writeFileSync(join(root, 'docs', 'guide.md'), '# Guide\n## Setting up\n');
    writeFileSync(
      join(root, 'README.md'),
      [
        '# Top',
        'See [the guide](docs/guide.md#setting-up), [here](#top), `src/there.ts` and `dist/cjs/there.js`.',
        'Broken: [gone](docs/gone.md), [no anchor](docs/guide.md#tear-down), [self](#nowhere).',
        'Missing: `src/gone.ts`, `dist/cjs/gone.js`, `docs/`, `test/`, and design.md section 6.',
        'Outputs: `out/report.md` is written by a run; `there.ts` in `src/` is `src/there.ts`.',
        '```',
        '[inside a fence](nowhere.md) `src/fenced.ts`',
        '```',
      ].join('\n'),
    );
    assert.deepEqual(
      brokenReferences(join(root, 'README.md'), root).map((b) => `${b.line}: ${b.reference}: ${b.problem}`),
      [
        '3: docs/gone.md: no such file',
        '3: docs/guide.md#tear-down: no heading with anchor #tear-down in docs/guide.md',
        '3: #nowhere: no heading with anchor #nowhere in README.md',
        '4: src/gone.ts: no such file or folder',
        '4: dist/cjs/gone.js: no source src/gone.ts for this build output',
        '4: test/: no such file or folder',
        '4: design.md: no such Markdown file',
      ],
    );
  });
});
