// Prints the "After" table of docs/architecture.md: files and lines per source folder, and the
// file names, as `ls src/<folder>/*.ts | wc -l` and `cat src/<folder>/*.ts | wc -l` count them.
// Usage: node scripts/architecture-counts.mjs
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FOLDERS = ['base', 'algorithms', 'policy', 'split', 'ops', 'fleet'];
const ENTRY = { ops: 'index (entry point)', fleet: 'index (entry point)' };
const WIDTH = 96;

console.log('src/index.ts           core entry point');
for (const folder of FOLDERS) {
  const files = readdirSync(join('src', folder)).filter((f) => f.endsWith('.ts')).sort();
  const lines = files.reduce((n, f) => n + readFileSync(join('src', folder, f), 'utf8').split('\n').length - 1, 0);
  const names = files.map((f) => f.replace(/\.ts$/, '')).filter((n) => !(n === 'index' && ENTRY[folder]));
  if (ENTRY[folder]) names.unshift(ENTRY[folder]);
  const head = `src/${folder}/`.padEnd(16) + `${String(files.length).padStart(3)} files ${lines.toLocaleString('en-US').padStart(6)} lines   `;
  let row = head;
  const rows = [];
  for (const name of names) {
    if (row.length + name.length + 1 > WIDTH && row.trim().length > head.trim().length) {
      rows.push(row.trimEnd());
      row = ' '.repeat(head.length);
    }
    row += name + ' ';
  }
  rows.push(row.trimEnd());
  console.log(rows.join('\n'));
}
