/**
 * `npm run example:shadow`, or from the repository root `node dist/examples/shadow/main.js`.
 * Runs the shadow-traffic demo (see demo.ts) and exits.
 */
import { runShadowDemo } from './demo.js';

await runShadowDemo();
