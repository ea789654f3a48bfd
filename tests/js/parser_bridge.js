'use strict';
// A bridge between the Python tests and the official JavaScript Engine.IO
// parsers: engine.io-parser 5.x (protocol 4, what engine.io 6.x speaks) and
// engine.io-parser 2.x installed as "engine.io-parser-v3" (protocol 3, what
// engine.io 3.x speaks).
//
// tests/test_js_parser_interop.py starts this process once per test session,
// so that thousands of cases cost one Node start-up.  It reads one JSON
// request per line on stdin and writes one JSON reply per line on stdout, in
// order:
//
//   {"id": 7, "op": "v4.encodePayload", "packets": [...]}
//   {"id": 7, "result": "4hello\u001e2"}          or  {"id": 7, "error": "..."}
//
// Values that cross the bridge:
//   * text is a JSON string; binary data is {"$binary": "<standard base64>"}
//   * a packet is {"type": <0..6>, "data": <text, binary, or null for none>};
//     in replies an unknown or error packet has type "error" (or null when
//     the parser gave no type at all) so the Python side sees it as a failure.
//
// The parsers answer through callbacks, but all of them call back
// synchronously; a callback that is not called is reported as an error
// instead of leaving the Python side waiting.  The process ends when stdin
// closes.

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const parserV4 = require('engine.io-parser');
const parserV3 = require('engine.io-parser-v3');

const TYPE_NAMES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'];

function fromWire(value) {
  if (typeof value === 'string') {
    return value;
  }
  if (value !== null && typeof value === 'object' && typeof value.$binary === 'string') {
    return Buffer.from(value.$binary, 'base64');
  }
  throw new Error('not a wire value: ' + JSON.stringify(value));
}

function toWire(value) {
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value === 'string') {
    return value;
  }
  if (value instanceof ArrayBuffer) {
    return { $binary: Buffer.from(value).toString('base64') };
  }
  if (ArrayBuffer.isView(value)) {
    return {
      $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
    };
  }
  throw new Error('the parser produced a ' + typeof value + ', which cannot cross the bridge');
}

function packetFromWire(packet) {
  const name = TYPE_NAMES[packet.type];
  if (name === undefined) {
    throw new Error('unknown packet type ' + JSON.stringify(packet.type));
  }
  const out = { type: name };
  if (packet.data !== null && packet.data !== undefined) {
    out.data = fromWire(packet.data);
  }
  return out;
}

function packetToWire(packet) {
  let type = packet.type;
  if (type !== 'error') {
    const index = TYPE_NAMES.indexOf(type);
    type = index < 0 ? null : index;
  }
  return { type: type, data: toWire(packet.data) };
}

// Calls fn(callback) and returns the one value it was called back with.
function callBack(fn) {
  let called = false;
  let result;
  fn((value) => {
    if (called) {
      throw new Error('callback called twice');
    }
    called = true;
    result = value;
  });
  if (!called) {
    throw new Error('the parser did not call back (it gives no answer for this input)');
  }
  return result;
}

// engine.io-parser 5.x does not export its package.json, so read the file.
function packageVersion(name) {
  const file = path.join(__dirname, 'node_modules', name, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

const OPS = {
  hello() {
    return {
      node: process.version,
      'engine.io-parser': { version: packageVersion('engine.io-parser'), protocol: parserV4.protocol },
      'engine.io-parser-v3': { version: packageVersion('engine.io-parser-v3'), protocol: parserV3.protocol },
    };
  },

  // -- protocol 4 (engine.io-parser 5.x) ------------------------------------

  // With "json", the packet's data is JSON.stringify(json), as socket.io
  // writes an event before handing it to the parser.
  'v4.encodePacket'(request) {
    const packet = packetFromWire(request.packet);
    if (request.json !== undefined) {
      packet.data = JSON.stringify(request.json);
    }
    return toWire(callBack((cb) => parserV4.encodePacket(packet, request.supportsBinary, cb)));
  },

  // With parseJSON, the packet's text data is parsed with JSON.parse, as an
  // application (socket.io) on top of the parser reads it.
  'v4.decodePacket'(request) {
    const packet = parserV4.decodePacket(fromWire(request.encoded), 'nodebuffer');
    const out = packetToWire(packet);
    if (request.parseJSON) {
      out.json = JSON.parse(packet.data);
    }
    return out;
  },

  'v4.encodePayload'(request) {
    const packets = request.packets.map(packetFromWire);
    return callBack((cb) => parserV4.encodePayload(packets, cb));
  },

  'v4.decodePayload'(request) {
    if (typeof request.payload !== 'string') {
      throw new Error('a protocol 4 payload is text');
    }
    return parserV4.decodePayload(request.payload, 'nodebuffer').map(packetToWire);
  },

  // -- protocol 3 (engine.io-parser 2.x) ------------------------------------

  'v3.encodePayload'(request) {
    const packets = request.packets.map(packetFromWire);
    return toWire(callBack((cb) => parserV3.encodePayload(packets, request.supportsBinary, cb)));
  },

  // Text payloads (string) take the "<length>:<packet>" path, Buffers the
  // XHR2 binary path.  The parser reports a bad payload by calling back with
  // its error packet; that comes back as {"error": true}.
  'v3.decodePayload'(request) {
    const packets = [];
    let error = false;
    parserV3.decodePayload(fromWire(request.payload), (packet) => {
      if (packet.type === 'error') {
        error = true;
        return false;
      }
      packets.push(packetToWire(packet));
      return true;
    });
    return { packets: packets, error: error };
  },

  // -- JSONP (protocol 3 polling) -------------------------------------------

  // Runs a JSONP response as a browser would run the <script>, with the
  // ___eio array of callbacks that engine.io-client 3.x keeps, and returns
  // every call made: [{"index": i, "arg": ..., "argType": typeof ...}].
  'jsonp.eval'(request) {
    const calls = [];
    const callbacks = [];
    for (let i = 0; i < request.callbacks; i++) {
      callbacks.push((arg) => {
        calls.push({ index: i, arg: typeof arg === 'string' ? arg : String(arg), argType: typeof arg });
      });
    }
    vm.runInNewContext(request.script, { ___eio: callbacks }, { timeout: 5000 });
    return calls;
  },
};

function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    return { id: null, error: 'bad request line: ' + err.message };
  }
  const op = OPS[request.op];
  if (op === undefined) {
    return { id: request.id, error: 'unknown op ' + JSON.stringify(request.op) };
  }
  try {
    return { id: request.id, result: op(request) };
  } catch (err) {
    return { id: request.id, error: String(err && err.stack ? err.stack : err) };
  }
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.trim() !== '') {
      process.stdout.write(JSON.stringify(handle(line)) + '\n');
    }
  }
});
process.stdin.on('end', () => process.exit(0));
