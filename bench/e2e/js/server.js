// Server for the end-to-end harness: the official Node.js engine.io 6.x.
//
// Usage: node server.js <node_modules dir>
// Binds 127.0.0.1 on an ephemeral port, prints one JSON line describing what
// it runs, and echoes every message back until killed.  The control message
// `bench:broadcast <hz> <size>` instead starts the broadcast of
// apps/py_echo.py: `hz` times a second, one `size`-byte text message
// (`B<Date.now() in ms> ` padded with `x`) sent to every open socket, one
// `socket.send` each, looping over `server.clients`.
'use strict';

const path = require('path');
const http = require('http');
const { performance } = require('perf_hooks');

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

const CONTROL = 'bench:broadcast ';
let broadcasting = false;

function nowMs() {
  // wall clock with sub-millisecond precision, as Python's time.time()
  return performance.timeOrigin + performance.now();
}

function startBroadcast(hz, size) {
  broadcasting = true;
  const period = 1000 / hz;
  let next = performance.now();
  const round = () => {
    let text = 'B' + nowMs().toFixed(3) + ' ';
    if (text.length < size) text += 'x'.repeat(size - text.length);
    for (const id in server.clients) server.clients[id].send(text);
    next += period;
    let delay = next - performance.now();
    if (delay < 0) { next = performance.now(); delay = 0; }  // no catch-up burst
    setTimeout(round, delay);
  };
  round();
}

server.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (typeof data === 'string' && data.startsWith(CONTROL)) {
      const [hz, size] = data.slice(CONTROL.length).split(' ').map(Number);
      if (!broadcasting && hz > 0 && size > 0) startBroadcast(hz, size);
      return;
    }
    socket.send(data);
  });
});

httpServer.listen(0, '127.0.0.1', 2048, () => {
  process.stdout.write(JSON.stringify({
    port: httpServer.address().port,
    pid: process.pid,
    pids: [process.pid],
    node: process.version,
    'engine.io': engineVersion,
    ws: wsVersion,
  }) + '\n');
});

// the orchestrator kills us with SIGTERM; exit at once rather than waiting
// for open connections to drain
process.on('SIGTERM', () => process.exit(0));
