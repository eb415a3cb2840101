// Prints the counts block of docs/architecture.md: files and lines of every folder of src/ (each
// room), and the file names, as `ls src/<folder>/*.ts | wc -l` and `cat src/<folder>/*.ts | wc -l`
// count them (files directly in the folder; a subfolder is a row of its own).
// Usage: node scripts/architecture-counts.mjs
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const LAYERS = ['base', 'algorithms', 'policy', 'split', 'ops', 'fleet'];
const WIDTH = 110;

/** The folder and every folder under it, depth first, in name order. */
function foldersUnder(folder) {
  const below = readdirSync(folder)
    .sort()
    .filter((name) => statSync(join(folder, name)).isDirectory());
  return [folder, ...below.flatMap((name) => foldersUnder(join(folder, name)))];
}

const folders = LAYERS.flatMap((layer) => foldersUnder(join('src', layer)));
const pad = Math.max(...folders.map((folder) => folder.length)) + 2;
const count = (files, lines) => {
  const noun = files === 1 ? 'file ' : 'files';
  return `${String(files).padStart(3)} ${noun} ${lines.toLocaleString('en-US').padStart(6)} lines   `;
};
let totalFiles = 1;
let totalLines = readFileSync('src/index.ts', 'utf8').split('\n').length - 1;
console.log('src/index.ts'.padEnd(pad) + count(1, totalLines) + 'core entry point');
for (const folder of folders) {
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  if (files.length === 0) continue;
  const lines = files.reduce((n, f) => n + readFileSync(join(folder, f), 'utf8').split('\n').length - 1, 0);
  totalFiles += files.length;
  totalLines += lines;
  const head = `${folder}/`.padEnd(pad) + count(files.length, lines);
  let row = head;
  const rows = [];
  for (const name of files.map((f) => f.replace(/\.ts$/, ''))) {
    if (row.length + name.length + 1 > WIDTH && row.length > head.length) {
      rows.push(row.trimEnd());
      row = ' '.repeat(head.length);
    }
    row += name + ' ';
  }
  rows.push(row.trimEnd());
  console.log(rows.join('\n'));
}
console.log(('total'.padEnd(pad) + count(totalFiles, totalLines)).trimEnd());
