/**
 * Reading a weights file safely: whatever the path leads to (a FIFO, a device, a huge file), the
 * read never blocks a threadpool thread and never takes more than the size cap in memory.
 * @module
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { TrafficSplitRangeError, TrafficSplitTypeError } from '../../base/errors.js';

/** A weights file is a few hundred bytes; anything past this is not one. */
export const MAX_WEIGHTS_FILE_BYTES = 1024 * 1024;

/**
 * Opening never blocks: a FIFO opened for reading without O_NONBLOCK waits for a writer, and
 * holds one of libuv's four threadpool threads (shared with every `fs` call and DNS lookup)
 * until one comes. Symlinks are still followed: a ConfigMap's `weights.json` is one.
 * (O_NONBLOCK does not exist on Windows, where FIFOs do not live in the file system.)
 */
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** What a path that is not a regular file is, for the error message. */
function describeKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The file's text, read from one opened handle: the handle is checked to be a regular file
 * (after following symlinks, so `/dev/zero` behind a link is seen for what it is), and at most
 * `MAX_WEIGHTS_FILE_BYTES + 1` bytes are read whatever its size claims to be.
 */
export async function readWeightsText(path: string): Promise<string> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw new TrafficSplitTypeError(`${path}: expected a regular file, got ${describeKind(stats)}`);
    const tooLarge = (size: string) =>
      new TrafficSplitRangeError(
        `${path}: expected a weights file of at most ${MAX_WEIGHTS_FILE_BYTES} bytes, got ${size}`,
      );
    if (stats.size > MAX_WEIGHTS_FILE_BYTES) throw tooLarge(`${stats.size} bytes`);
    let buffer = Buffer.allocUnsafe(Math.min(stats.size, MAX_WEIGHTS_FILE_BYTES) + 1);
    let length = 0;
    // Read to the end of the file, never past one byte over the cap: the file may have grown
    // since fstat, and a size of 0 proves nothing (procfs and sysfs files report 0).
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_WEIGHTS_FILE_BYTES) throw tooLarge(`more than ${MAX_WEIGHTS_FILE_BYTES} bytes`);
        const bigger = Buffer.allocUnsafe(Math.min(2 * length, MAX_WEIGHTS_FILE_BYTES + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    // A byte-order mark (editors on some systems write one) is not part of the JSON.
    const text = buffer.toString('utf8', 0, length);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } finally {
    await handle.close();
  }
}
