// The benchmark's reference servers, run in their own (pinned) process:
//   baseline  answers every request 202 with three identity headers — the floor any forward-auth
//             server on node:http can reach on this machine;
//   app       answers 200 with a small body — the upstream behind nginx.
//   cluster   the baseline in two node:cluster workers sharing the port (the primary hands out
//             connections in turn, as for `gatehouse serve --workers 2`): the two-worker row's floor.
// Usage: node bench/baseline-server.ts baseline|app|cluster. Prints {"msg":"listening","url":…}.
import cluster from 'node:cluster';
import http from 'node:http';

const arg = process.argv[2];
if (arg !== 'baseline' && arg !== 'app' && arg !== 'cluster') {
  console.error('usage: node bench/baseline-server.ts baseline|app|cluster');
  process.exit(2);
}
if (arg === 'cluster' && cluster.isPrimary) {
  const workers = [cluster.fork(), cluster.fork()];
  let listening = 0;
  for (const w of workers) {
    w.on('message', (m: { url?: string }) => {
      if (typeof m.url === 'string' && ++listening === workers.length)
        console.log(JSON.stringify({ level: 30, msg: 'listening', url: m.url }));
    });
  }
  process.on('SIGTERM', () => {
    for (const w of workers) w.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
} else {
  serve(arg === 'cluster' ? 'baseline' : arg);
}

function serve(mode: 'baseline' | 'app'): void {
  const server = http.createServer(
    mode === 'baseline'
      ? (_req, res) => {
          res.writeHead(202, {
            'X-Auth-Request-User': 'alice',
            'X-Auth-Request-Email': 'alice@example.org',
            'X-Auth-Request-Groups': 'admins',
            'Content-Length': '0',
          });
          res.end();
        }
      : (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
          res.end('ok\n');
        },
  );
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a === null || typeof a === 'string') process.exit(1);
    const url = `http://127.0.0.1:${a.port}`;
    if (cluster.isWorker) process.send?.({ url });
    else console.log(JSON.stringify({ level: 30, msg: 'listening', url }));
  });
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
