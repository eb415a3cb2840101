/**
 * The README's quick start, as a newcomer meets it: its `js` block saved as a file of a fresh
 * application that installed the packed package, and run with `node`, as pasted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPackedApp, REPOSITORY, runCommand, type PackedApp } from '../helpers/packed-app.js';

/** The first fenced block of `language` after the `## Quick start` heading of the README. */
export function quickStartBlock(readme: string, language: string): string {
  const section = readme.slice(readme.indexOf('\n## Quick start\n'));
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(section);
  if (match === null) throw new Error(`no \`\`\`${language} block in the README's quick start`);
  return match[1]!;
}

describe("the README's quick start", () => {
  let packed: PackedApp | undefined;
  before(async () => {
    packed = await installPackedApp('gts-quick-start-');
  });
  after(() => packed?.dispose());

  it('names the install command of the package and its peer', () => {
    const readme = readFileSync(join(REPOSITORY, 'README.md'), 'utf8');
    assert.equal(quickStartBlock(readme, 'sh').trim(), 'npm install grpc-traffic-split @grpc/grpc-js');
  });

  it('runs as pasted and prints a response, then the split before and after a weight change', async () => {
    const readme = readFileSync(join(REPOSITORY, 'README.md'), 'utf8');
    const file = join(packed!.app, 'quick-start.mjs');
    writeFileSync(file, quickStartBlock(readme, 'js'));
    const run = await runCommand(process.execPath, [file], packed!.app);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 3, run.stdout);
    assert.match(lines[0]!, /^\{ from: 'v[12]', text: 'hello world' \}$/);
    const counts = (line: string, label: string): { v1: number; v2: number } => {
      const match = new RegExp(`^${label} \\{ v1: (\\d+), v2: (\\d+) \\}$`).exec(line);
      assert.ok(match, line);
      return { v1: Number(match[1]), v2: Number(match[2]) };
    };
    const before = counts(lines[1]!, 'at 90/10:');
    const afterChange = counts(lines[2]!, 'at 10/90:');
    // The schedule's bound: within one call of the share over 100 calls.
    assert.ok(before.v2 >= 9 && before.v2 <= 11 && before.v1 + before.v2 === 100, lines[1]);
    assert.ok(afterChange.v2 >= 89 && afterChange.v2 <= 91 && afterChange.v1 + afterChange.v2 === 100, lines[2]);
  });
});
