/**
 * A split whose figures are served at http://127.0.0.1:<port>/metrics in Prometheus format.
 * Runs a little traffic, scrapes itself once, prints what a Prometheus server would read, and
 * exits.
 */
import { createServer } from 'node:http';
import { TrafficSplit } from 'grpc-traffic-split';
import { reporterClient, startReporter } from '../demo/reporter.js';
import { registerSplitMetrics } from './split-metrics.js';

const v1 = await startReporter('v1');
const v2 = await startReporter('v2');
const split = new TrafficSplit({
  name: 'reporter',
  subsets: { v1: `ipv4:127.0.0.1:${v1.port}`, v2: `ipv4:127.0.0.1:${v2.port}` },
  weights: { v1: 90, v2: 10 },
});
const client = reporterClient(split.target, split.channelOptions);
const registry = registerSplitMetrics(split);

const http = createServer(async (request, response) => {
  if (request.url !== '/metrics') return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const port = (http.address() as { port: number }).port;

for (let i = 0; i < 200; i++) {
  await new Promise<void>((resolve, reject) => client.getReport({}, (error) => (error ? reject(error) : resolve())));
}
const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
console.log(`GET http://127.0.0.1:${port}/metrics after 200 calls at 90/10:\n`);
console.log(scraped);

client.close();
split.close();
http.close();
await Promise.all([v1.stop(), v2.stop()]);
