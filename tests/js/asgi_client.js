'use strict';
// The official engine.io-client against one of our servers, for
// tests/test_asgi_uvicorn.py.
//
//   node asgi_client.js <url> <mode>
//
// mode: "polling" (polling only), "websocket" (WebSocket only) or "upgrade"
// (polling, then the upgrade to WebSocket).  The server under test echoes
// every message.  Once open (and, for "upgrade", upgraded), the client sends
// a text and a binary message, waits for both echoes, closes, and prints one
// JSON line: {"transport", "upgraded", "sid", "echoes": [...], "close"}.
// Anything that goes wrong prints {"error": "..."} and exits 1; a watchdog
// bounds the whole run, so the Python side never waits forever.

const { Socket } = require('engine.io-client');

const [url, mode] = process.argv.slice(2);
const transports = mode === 'polling' ? ['polling']
  : mode === 'websocket' ? ['websocket'] : ['polling', 'websocket'];

function fail(message) {
  process.stdout.write(JSON.stringify({ error: String(message) }) + '\n');
  process.exit(1);
}

const watchdog = setTimeout(() => fail('timed out in state ' + state), 10000);
let state = 'connecting';
const result = { transport: null, upgraded: false, sid: null, echoes: [] };
const socket = new Socket(url, { transports, upgrade: mode === 'upgrade' });

function describe(data) {
  if (typeof data === 'string') return { text: data };
  return { binary: Array.from(new Uint8Array(data)) };
}

function exchange() {
  state = 'exchanging';
  result.transport = socket.transport.name;
  socket.send('hello \u00e9\u{1F600}');
  socket.send(Buffer.from([0, 1, 2, 255]));
}

socket.on('open', () => {
  result.sid = socket.id;
  if (mode !== 'upgrade') exchange();
  else state = 'upgrading';
});
socket.on('upgrade', () => {
  result.upgraded = true;
  exchange();
});
socket.on('upgradeError', (err) => fail('upgrade error: ' + err));
socket.on('message', (data) => {
  result.echoes.push(describe(data));
  if (result.echoes.length === 2) {
    state = 'closing';
    socket.close();
  }
});
socket.on('error', (err) => fail('error: ' + err));
socket.on('close', (reason) => {
  if (state !== 'closing') fail('closed early: ' + reason);
  result.close = reason;
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(result) + '\n');
});
