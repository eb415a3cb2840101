/**
 * `npm run example:streams`, or from the repository root `node dist/examples/streams/main.js`:
 * runs the scripted demo (see demo.ts) and exits.
 */
import { runStreamsDemo } from './demo.js';

await runStreamsDemo();
