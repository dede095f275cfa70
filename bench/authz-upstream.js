#!/usr/bin/env node
// The API behind nginx in bench:authz: answers every call 200 with a small JSON body. PORT.
const { createServer } = require('node:http');

const body = JSON.stringify({ items: [{ id: 1, name: 'item' }] });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body));
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT), '127.0.0.1');
