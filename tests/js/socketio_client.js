'use strict';
// The official socket.io-client, driven line by line from a Python test
// (tests/test_socketio.py, tests/test_flask_socketio.py) against one of our
// servers running python-socketio or Flask-SocketIO.
//
//   node socketio_client.js
//
// stdin: one JSON command per line; stdout: one JSON event per line.  Every
// socket has a name chosen by the test, echoed in each event it causes.
//
// commands
//   {"op": "open", "name", "url", "namespace"?, "path"?, "transports"?,
//    "upgrade"?, "auth"?, "query"?}
//        a new socket (its own Manager: forceNew, no reconnection)
//   {"op": "emit", "name", "event", "args": [...], "ack"?: id}
//        emit; with "ack", wait (bounded) for the server's acknowledgement
//   {"op": "close", "name"}       socket.disconnect()
//   {"op": "exit"}                close every socket and exit
// events
//   {"name", "type": "connect", "id", "transport"}  (the transport then)
//   {"name", "type": "upgrade", "transport"}      the engine upgraded
//                                  (before or after "connect")
//   {"name", "type": "connect_error", "message", "data"}
//   {"name", "type": "event", "event", "args", "acked"}
//        a server emit; when the server asked for an acknowledgement, the
//        client answered ["ack", ...args] ("acked": true)
//   {"name", "type": "ack", "ack", "args"} / {"name", "type": "ack", "ack",
//    "error"}                     the answer to an emit with "ack"
//   {"name", "type": "disconnect", "reason"}
//   {"type": "error", "message"}  a command that could not run
//
// Binary values travel in JSON as {"$binary": "<base64>"}, both ways, at any
// depth: a Buffer on the Node side, bytes on the Python side.  The process
// exits when stdin closes (the test ended) or after a watchdog, so it never
// outlives its test.

const readline = require('readline');
const { io } = require('socket.io-client');

const sockets = new Map();
const watchdog = setTimeout(() => {
  emit({ type: 'error', message: 'watchdog: still running after 60 s' });
  shutdown(2);
}, 60000);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer ||
      ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value.buffer ? new Uint8Array(
      value.buffer, value.byteOffset, value.byteLength) : value)
      .toString('base64') };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = toWire(item);
    return out;
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$binary') {
      return Buffer.from(value.$binary, 'base64');
    }
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = fromWire(item);
    return out;
  }
  return value;
}

function open(command) {
  const { name } = command;
  const options = {
    forceNew: true,
    reconnection: false,
    timeout: 8000,
    path: command.path || '/socket.io',
    transports: command.transports || ['polling', 'websocket'],
    upgrade: command.upgrade !== false,
  };
  if (command.auth !== undefined) options.auth = command.auth;
  if (command.query !== undefined) options.query = command.query;
  const socket = io(command.url + (command.namespace || '/'), options);
  sockets.set(name, socket);
  // the engine may upgrade before the Socket.IO connect completes: listen
  // from the moment it opens (it probes right after emitting "open")
  socket.io.on('open', () => {
    socket.io.engine.on('upgrade', (transport) => {
      emit({ name, type: 'upgrade', transport: transport.name });
    });
  });
  socket.on('connect', () => {
    emit({ name, type: 'connect', id: socket.id,
      transport: socket.io.engine.transport.name });
  });
  socket.on('connect_error', (err) => {
    emit({ name, type: 'connect_error', message: String(err.message),
      data: err.data === undefined ? null : toWire(err.data) });
  });
  socket.on('disconnect', (reason) => {
    emit({ name, type: 'disconnect', reason });
  });
  socket.onAny((event, ...args) => {
    let acked = false;
    if (args.length && typeof args[args.length - 1] === 'function') {
      const ack = args.pop();
      ack('ack', ...args);
      acked = true;
    }
    emit({ name, type: 'event', event, args: toWire(args), acked });
  });
}

function send(command) {
  const socket = sockets.get(command.name);
  if (!socket) throw new Error('no socket named ' + command.name);
  const args = fromWire(command.args || []);
  if (command.ack === undefined || command.ack === null) {
    socket.emit(command.event, ...args);
    return;
  }
  const { name, ack } = command;
  socket.timeout(8000).emit(command.event, ...args, (err, ...response) => {
    if (err) emit({ name, type: 'ack', ack, error: String(err.message) });
    else emit({ name, type: 'ack', ack, args: toWire(response) });
  });
}

let closing = false;

function shutdown(code) {
  if (closing) return;
  closing = true;
  clearTimeout(watchdog);
  lines.close();
  for (const socket of sockets.values()) socket.disconnect();
  sockets.clear();
  // Node exits by itself once the close packets are out (a polling close is
  // a POST the server must see); a stuck request cannot hold it past 3 s
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3000).unref();
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
    if (command.op === 'open') open(command);
    else if (command.op === 'emit') send(command);
    else if (command.op === 'close') sockets.get(command.name).disconnect();
    else if (command.op === 'exit') shutdown(0);
    else throw new Error('unknown op ' + command.op);
  } catch (err) {
    emit({ type: 'error', message: String(err && err.message) });
  }
});
lines.on('close', () => shutdown(0));
