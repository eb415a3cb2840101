/**
 * Buffers for the slices of the admin endpoint's answers, used again from one answer to the next.
 * A fresh Buffer per slice is off-heap memory V8 counts anyway: a 3.8 MB `GET /stats` every few
 * seconds made V8 collect for "external memory pressure", young and old generations alike, in
 * the middle of the next answers. An answer gives each slice back once the socket is done with
 * it; the pool keeps up to `maxBytes` of them.
 * @module
 */

export class SlicePool {
  private readonly free: ArrayBuffer[] = [];
  /** Buffers of this pool, to refuse any other (a Buffer of the same size from elsewhere). */
  private readonly owned = new WeakSet<ArrayBuffer>();
  /** Buffers in `free`, so that one given back twice is not handed out twice. */
  private readonly idle = new WeakSet<ArrayBuffer>();
  /** Buffers allocated since the pool was made (the rest were used again). */
  allocated = 0;

  constructor(
    /** Bytes of each buffer. */
    readonly bufferBytes: number,
    /** Most bytes kept for later. */
    readonly maxBytes: number,
  ) {}

  /** Buffers kept for later, now. */
  get size(): number {
    return this.free.length;
  }

  /** A buffer of `bufferBytes`, used before or new. */
  take(): Buffer {
    let memory = this.free.pop();
    if (memory === undefined) {
      memory = new ArrayBuffer(this.bufferBytes);
      this.owned.add(memory);
      this.allocated++;
    } else {
      this.idle.delete(memory);
    }
    return Buffer.from(memory);
  }

  /** Takes back the buffer under `slice` (a view of it from `take()`): only once nothing else
   * reads it, such as a socket still writing it. Views of other memory are ignored. */
  give(slice: Uint8Array): void {
    const memory = slice.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.owned.has(memory) || this.idle.has(memory)) return;
    if ((this.free.length + 1) * this.bufferBytes > this.maxBytes) return;
    this.idle.add(memory);
    this.free.push(memory);
  }
}
