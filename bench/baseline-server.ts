// The benchmark's reference servers, run in their own (pinned) process:
//   baseline  answers every request 202 with three identity headers — the floor any forward-auth
//             server on node:http can reach on this machine;
//   app       answers 200 with a small body — the upstream behind nginx.
// Usage: node bench/baseline-server.ts baseline|app. Prints {"msg":"listening","url":…}.
import http from 'node:http';

const mode = process.argv[2];
if (mode !== 'baseline' && mode !== 'app') {
  console.error('usage: node bench/baseline-server.ts baseline|app');
  process.exit(2);
}

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
  console.log(JSON.stringify({ level: 30, msg: 'listening', url: `http://127.0.0.1:${a.port}` }));
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
