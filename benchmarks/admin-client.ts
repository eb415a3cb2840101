/**
 * Child-process entry of the admin bench: the client that asks for `GET /stats` and reads the
 * answer, in a process of its own so that the event loop measured is the endpoint's alone (a
 * client in the same process adds its own reads, and their garbage, to it).
 *
 * Protocol: the parent sends `{ url }`; the child answers `{ status, bytes }` once the answer is
 * read to its end, or `{ error }`.
 * @module
 */
import { request } from 'node:http';

/** What the child answers. */
export type AdminClientReply = { status: number; bytes: number } | { error: string };

process.on('message', (message: { url: string }) => {
  request(message.url, { agent: false }, (response) => {
    let bytes = 0;
    response.on('data', (chunk: Buffer) => (bytes += chunk.length));
    response.on('end', () => process.send?.({ status: response.statusCode ?? 0, bytes } satisfies AdminClientReply));
    response.on('error', (error) => process.send?.({ error: String(error) } satisfies AdminClientReply));
  })
    .on('error', (error) => process.send?.({ error: String(error) } satisfies AdminClientReply))
    .end();
});
// Never outlive the bench.
process.on('disconnect', () => process.exit(0));
