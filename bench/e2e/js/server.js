// Echo server for the end-to-end harness: the official Node.js engine.io 6.x.
//
// Usage: node server.js <node_modules dir>
// Binds 127.0.0.1 on an ephemeral port, prints one JSON line describing what
// it runs, and echoes every message back until killed.
'use strict';

const path = require('path');
const http = require('http');

const modules = process.argv[2];
if (!modules) {
  console.error('usage: node server.js <node_modules dir>');
  process.exit(2);
}
// By path: the packages live in the test suite's node_modules, and this
// folder has no package.json of its own.
const engine = require(path.join(modules, 'engine.io'));
const engineVersion = require(path.join(modules, 'engine.io', 'package.json')).version;
const wsVersion = require(path.join(modules, 'ws', 'package.json')).version;

const httpServer = http.createServer();
// Defaults on purpose (pingInterval 25 s, pingTimeout 20 s, perMessageDeflate
// off, httpCompression on above 1 KiB): the same as python-engineio's.
const server = new engine.Server();
server.attach(httpServer);

server.on('connection', (socket) => {
  socket.on('message', (data) => {
    socket.send(data);
  });
});

httpServer.listen(0, '127.0.0.1', 2048, () => {
  process.stdout.write(JSON.stringify({
    port: httpServer.address().port,
    pid: process.pid,
    node: process.version,
    'engine.io': engineVersion,
    ws: wsVersion,
  }) + '\n');
});

// the orchestrator kills us with SIGTERM; exit at once rather than waiting
// for open connections to drain
process.on('SIGTERM', () => process.exit(0));
