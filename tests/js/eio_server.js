'use strict';
// The official engine.io server as an echo peer, for tests/test_client*.py.
//
//   node eio_server.js [port] [options-json]
//
// port 0 (the default) picks a free one; options-json is passed to the
// engine.io Server (e.g. '{"pingInterval": 300, "transports": ["polling"]}').
// Every message is echoed back, except the text "close me", which makes the
// server close the session.  Prints {"port": N} once listening; exits when
// its stdin closes, so that a test that dies does not leave it behind.

const http = require('http');
const engine = require('engine.io');

const port = Number(process.argv[2] || 0);
const options = JSON.parse(process.argv[3] || '{}');

const httpServer = http.createServer();
const server = engine.attach(httpServer, options);
server.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (data === 'close me') socket.close();
    else socket.send(data);
  });
});
httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
