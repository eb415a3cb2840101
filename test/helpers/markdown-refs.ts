/**
 * What a Markdown file points at: relative links (`[text](path#anchor)`, `[text](#anchor)`) and
 * file references in code spans (`src/ops/telemetry/otel.ts`, `docs/`, `dist/cjs/index.js`) or by name
 * (`design.md`). `brokenReferences()` lists those that do not exist: a missing file, a missing
 * heading, a reference to a build output whose source is gone. Fenced code blocks are skipped
 * (their text is program output or commands, not references).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** The lines of `text` outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: string; number: number }[] {
  const lines: { line: string; number: number }[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((line, i) => {
    const opening = /^\s*(`{3,}|~{3,})/.exec(line);
    if (opening !== null) {
      if (fence === null) fence = opening[1]!;
      else if (line.trim().startsWith(fence)) fence = null;
      return;
    }
    if (fence === null) lines.push({ line, number: i + 1 });
  });
  return lines;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a Markdown file defines (repeated headings get `-1`, `-2`, ...). */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = headingAnchor(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** A path-like code span: relative, with a folder, a known extension or a trailing slash. */
const PATH_SPAN = /^(?:\.{1,2}\/)?(?:[\w.-]+\/)+(?:[\w.-]+\.(?:ts|cts|mts|js|cjs|mjs|json|md|svg|yml|yaml|sh)|)$/;
/** A Markdown file named in prose without a folder (`design.md`). */
const MD_NAME = /(?<![\w/.`-])([\w-]+(?:\.[\w-]+)*\.md)\b/g;

/**
 * The source a build output comes from: `dist/cjs/x.js` and `dist/esm/x.js` from `src/x.ts`,
 * `dist/<dir>/x.js` from `<dir>/x.ts`; other paths stand for themselves.
 */
function sourceOf(path: string): string {
  const built = /^dist\/(?:(?:cjs|esm)\/(.*)|(.*))\.(?:js|d\.ts)$/.exec(path);
  if (built === null) return path;
  return built[1] !== undefined ? `src/${built[1]}.ts` : `${built[2]}.ts`;
}

export interface BrokenReference {
  file: string;
  line: number;
  reference: string;
  problem: string;
}

/**
 * The references of `file` (absolute) that do not resolve. Relative paths resolve against the
 * file's folder; code-span paths and bare `.md` names may also be relative to `root` or to
 * `root/src` (docs name source files as `policy/balancer/picker.ts`). A folder that `root/.gitignore`
 * lists (`benchmarks/runs/`) is an output: it need not exist.
 */
export function brokenReferences(file: string, root: string): BrokenReference[] {
  const text = readFileSync(file, 'utf8');
  const broken: BrokenReference[] = [];
  const where = relative(root, file);
  const report = (line: number, reference: string, problem: string): void => {
    broken.push({ file: where, line, reference, problem });
  };
  const candidates = (path: string): string[] => [
    resolve(dirname(file), path),
    resolve(root, path),
    resolve(root, 'src', path),
  ];
  const ignored = existsSync(join(root, '.gitignore'))
    ? readFileSync(join(root, '.gitignore'), 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('/'))
    : [];
  for (const { line, number } of proseLines(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, '``');
    for (const link of withoutCode.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = link[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const linked = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(linked)) {
        report(number, target, 'no such file');
        continue;
      }
      if (anchor !== undefined && linked.endsWith('.md') && !anchorsOf(readFileSync(linked, 'utf8')).has(anchor)) {
        report(number, target, `no heading with anchor #${anchor} in ${relative(root, linked)}`);
      }
    }
    for (const span of line.matchAll(/`([^`\s]+)`/g)) {
      const path = span[1]!;
      // Detours such as `../split/../ops/` are examples of bad imports, not references.
      if (!PATH_SPAN.test(path) || path.includes('node_modules') || path.includes('/../')) continue;
      if (ignored.some((folder) => path.startsWith(folder))) continue;
      const source = sourceOf(path);
      const found = candidates(source).some(
        (candidate) => existsSync(candidate) && (!path.endsWith('/') || statSync(candidate).isDirectory()),
      );
      if (!found)
        report(number, path, source === path ? 'no such file or folder' : `no source ${source} for this build output`);
    }
    for (const name of line.replace(/`/g, ' ').matchAll(MD_NAME)) {
      const md = name[1]!;
      if (![...candidates(md), join(root, 'docs', md)].some((candidate) => existsSync(candidate)))
        report(number, md, 'no such Markdown file');
    }
  }
  return broken;
}
