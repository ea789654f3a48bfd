// Load generator for the end-to-end harness: raw Engine.IO v4 over `ws` and
// over a minimal HTTP/1.1 client of its own, without engine.io-client (its
// per-packet layering would make the generator, not the server, the thing
// being measured).
//
// Usage: node loadgen.js <node_modules dir> '<JSON config>'
//
// Config:
//   scenario     'echo' (default): every client sends, the server echoes;
//                'idle': open connections and only answer pings (see runIdle);
//                'broadcast': ask the server to broadcast, count what arrives
//                (see runBroadcast)
//   url          http://127.0.0.1:PORT/engine.io/
//   transport    'websocket' (direct, no polling handshake) | 'polling'
//   clients      number of Engine.IO sessions
//   inflight     closed loop: messages each client keeps in flight
//   rate         open loop instead: total messages per second (0: closed loop)
//   size         payload bytes per message
//   binary       WebSocket binary frames instead of '4'-prefixed text
//   batchWrites  WebSocket: frames sent in the same tick leave in one write
//                (off by default: one write per frame, as a browser does)
//   warmup       seconds of load before the measurement window
//   duration     seconds of the measurement window
//   serverPid    the server process, for CPU time and RSS from /proc
//   serverPids   all of the server's processes (gunicorn: master and worker),
//                summed; default [serverPid]
//   concurrency  handshakes outstanding at once while opening (default 200)
//   idleWarm     idle: connections opened before the baseline RSS (default 20)
//   settle       idle: seconds between the last open and the RSS reading
//   window       idle: seconds of the idle CPU window
//   hz, broadcastSize  broadcast: what the control message asks the server for
//   clkTck       the kernel's clock ticks per second (/proc/<pid>/stat unit)
//   connectTimeout  seconds to open every session (idle: the N sessions)
//
// Prints one JSON object on stdout and exits.  Every wait is bounded: a hard
// timer ends the process even if a server stops answering.
'use strict';

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');

const modules = process.argv[2];
const config = JSON.parse(process.argv[3] || '{}');
const WebSocket = require(path.join(modules, 'ws'));

const {
  url, transport = 'websocket', clients: nClients = 100, inflight = 10,
  rate = 0, size = 100, binary = false, batchWrites = false,
  warmup = 1, duration = 5,
  serverPid = 0, clkTck = 100, connectTimeout = 10,
  scenario = 'echo', concurrency = 200, idleWarm = 20, settle = 2, window = 30,
  hz = 10, broadcastSize = 100,
} = config;
const serverPids = config.serverPids || (serverPid ? [serverPid] : []);
const HANDSHAKE_TIMEOUT_MS = 10000;

// Latencies: one send timestamp per (client, sequence number) in a ring.
// Echoes come back in order on every connection (the Python servers run with
// async_handlers=False, Node handles a socket's messages in order), so the
// sequence number in the echo both finds the timestamp and checks the order.
const RING = 8192;
const SEQ_DIGITS = 10;

const errors = {
  connect: 0, closed: 0, mismatch: 0, http: 0, socket: 0, backlog: 0,
};
let errorSample = null;
function error(kind, detail) {
  errors[kind] += 1;
  if (errorSample === null && detail) errorSample = kind + ': ' + detail;
}

// measurement state
let running = false;      // sending new messages
let measuring = false;    // counting echoes and recording latencies
let echoes = 0;
let echoBytes = 0;
let latencies = new Float64Array(1 << 16);
let nLatencies = 0;
let pings = 0;            // pings answered while measuring
let broadcasts = 0;       // broadcast messages received while measuring

// Wall clock in ms with sub-millisecond precision: the broadcast messages
// carry the server's time.time() / Date.now(), same machine, same clock.
function wallMs() { return performance.timeOrigin + performance.now(); }

function record(latencyMs) {
  if (nLatencies === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[nLatencies++] = latencyMs * 1000;   // µs
}

// A fixed mask key instead of ws's per-frame random one: the server does the
// same work whatever the key (non-zero, so that nothing can skip unmasking),
// and the generator skips a crypto refill.
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
function generateMask(mask) {
  mask[0] = MASK[0]; mask[1] = MASK[1]; mask[2] = MASK[2]; mask[3] = MASK[3];
}

class Client {
  constructor(index) {
    this.index = index;
    this.sent = 0;          // next sequence number to send
    this.received = 0;      // next sequence number expected back
    this.times = new Float64Array(RING);
    this.open = false;
    this.broadcasts = 0;    // received while measuring
  }

  // A broadcast message `B<server ms> xxx...` (text after the '4').
  broadcast(data) {
    if (!measuring) return;
    const end = data.indexOf(0x20, 2);
    const sentMs = end > 2 ? Number(data.toString('latin1', 2, end)) : NaN;
    if (!Number.isFinite(sentMs)) {
      error('mismatch', 'corrupt broadcast ' + data.toString('latin1', 0, 40));
      return;
    }
    broadcasts += 1;
    this.broadcasts += 1;
    record(wallMs() - sentMs);
  }

  inFlight() { return this.sent - this.received; }

  // Called when an echo of sequence number `seq` (or a corrupt one) arrives.
  echoed(seq, bytes) {
    const now = performance.now();
    if (seq !== this.received) {
      error('mismatch', `client ${this.index} expected ${this.received} got ${seq}`);
      // resynchronise so that one lost message does not fail every later one
      if (seq > this.received && seq < this.sent) this.received = seq;
      else return;
    }
    const sentAt = this.times[seq % RING];
    this.received += 1;
    if (measuring) {
      echoes += 1;
      echoBytes += bytes;
      record(now - sentAt);
    }
    if (running && rate === 0) this.send();
  }

  send() {
    if (this.inFlight() >= RING) {
      // open loop and the server is this far behind: stop offering more to
      // this client rather than overwrite timestamps
      error('backlog');
      return;
    }
    const seq = this.sent++;
    this.times[seq % RING] = performance.now();
    this.transmit(seq);
  }
}

// ---------------------------------------------------------------------------
// WebSocket clients

function writeDigits(buf, offset, value) {
  for (let i = offset + SEQ_DIGITS - 1; i >= offset; i--) {
    buf[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function readDigits(buf, offset) {
  let value = 0;
  for (let i = offset; i < offset + SEQ_DIGITS; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

class WsClient extends Client {
  connect(base) {
    // A template per client whose sequence number is rewritten before each
    // send: ws copies a Buffer while masking it, so reusing it is safe and
    // no string is encoded per message.
    if (binary) {
      this.template = Buffer.alloc(Math.max(size, 4), 0x61);
    } else {
      this.template = Buffer.alloc(1 + Math.max(size, SEQ_DIGITS), 0x78);
      this.template[0] = 0x34;  // '4' MESSAGE
    }
    return new Promise((resolve) => {
      const ws = new WebSocket(base + '?EIO=4&transport=websocket', {
        perMessageDeflate: false,  // compression would measure zlib
        skipUTF8Validation: true,  // generator-side saving, servers still validate
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        generateMask,
      });
      this.ws = ws;
      let settled = false;
      // the HTTP handshake has its own timeout; this one also covers a
      // server that upgrades but never sends the open packet
      const timer = setTimeout(() => {
        // counted with the other sessions that did not open
        if (errorSample === null) {
          errorSample = 'connect: no open packet within ' + HANDSHAKE_TIMEOUT_MS + ' ms';
        }
        ws.terminate();
      }, HANDSHAKE_TIMEOUT_MS + 1000);
      const done = (ok) => {
        if (!settled) { settled = true; clearTimeout(timer); resolve(ok); }
      };
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          this.echoed(data.length >= 4 ? data.readUInt32LE(0) : -1, data.length);
          return;
        }
        const type = data[0];
        if (type === 0x34) {            // '4' message
          if (data[1] === 0x42) this.broadcast(data);   // '4B...'
          else this.echoed(readDigits(data, 1), data.length - 1);
        } else if (type === 0x32) {     // '2' ping -> '3' pong
          if (measuring) pings += 1;
          ws.send('3');
        } else if (type === 0x30) {     // '0' open
          this.open = true;
          done(true);
        } else if (type === 0x31) {     // '1' close
          error('closed', 'server sent close');
        }
        // '6' noop and anything else: ignore
      });
      ws.on('error', (err) => { error('socket', String(err.message || err)); done(false); });
      ws.on('close', (code) => {
        if (this.open && !stopping) error('closed', `close code ${code}`);
        this.open = false;
        done(false);
      });
    });
  }

  transmit(seq) {
    if (batchWrites && !this.corked) {
      // Node's cork() nests (ws corks around its own two-part writes), so
      // everything sent until the next tick goes out in one writev.
      const socket = this.ws._socket;
      this.corked = true;
      socket.cork();
      process.nextTick(() => { this.corked = false; socket.uncork(); });
    }
    const buf = this.template;
    if (binary) {
      buf.writeUInt32LE(seq, 0);
      this.ws.send(buf, { binary: true });
    } else {
      writeDigits(buf, 1, seq);
      this.ws.send(buf, { binary: false });
    }
  }

  close() { if (this.ws) this.ws.terminate(); }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client over a raw socket.  Node's `http` client cost
// the generator about 60 µs per request, which made it the bottleneck of the
// long-polling scenario (122 µs of generator CPU per POST + GET round trip
// against Node's engine.io; 44 µs with this one).  It writes one buffer per
// request and parses only what Engine.IO servers answer (Content-Length or
// chunked bodies, keep-alive).

const net = require('net');

class HttpConnection {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.socket = null;
    this.pending = null;     // {resolve} of the request in progress
    this.buffer = null;
  }

  connect() {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.parse();
    });
    const gone = (err) => {
      if (this.socket === socket) this.socket = null;
      if (this.pending) {
        const { resolve } = this.pending;
        this.pending = null;
        resolve({ status: 0, body: err ? String(err.message || err) : 'connection closed' });
      }
    };
    socket.on('error', gone);
    socket.on('close', () => gone(null));
    this.socket = socket;
    this.buffer = null;
  }

  // One request at a time on a connection (no pipelining).
  request(method, target, body) {
    return new Promise((resolve) => {
      if (this.pending) throw new Error('request overlap on one connection');
      if (!this.socket) this.connect();
      this.pending = { resolve };
      let head = `${method} ${target} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`;
      if (body !== null) {
        head += 'Content-Type: text/plain;charset=UTF-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body;
      } else {
        head += '\r\n';
      }
      this.socket.write(head);
    });
  }

  parse() {
    const buf = this.buffer;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.pending) return;
    const head = buf.toString('latin1', 0, end).split('\r\n');
    const status = Number(head[0].split(' ')[1]);
    let length = -1;
    let chunked = false;
    let close = false;
    for (let i = 1; i < head.length; i++) {
      const colon = head[i].indexOf(':');
      const name = head[i].slice(0, colon).trim().toLowerCase();
      const value = head[i].slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection') close = value === 'close';
    }
    let body;
    let consumed;
    if (chunked) {
      // chunk-size CRLF data CRLF ... 0 CRLF CRLF
      const parts = [];
      let at = end + 4;
      for (;;) {
        const eol = buf.indexOf('\r\n', at);
        if (eol < 0) return;                     // wait for more
        const n = parseInt(buf.toString('latin1', at, eol), 16);
        if (n === 0) {
          if (buf.length < eol + 4) return;
          consumed = eol + 4;
          break;
        }
        if (buf.length < eol + 2 + n + 2) return;
        parts.push(buf.subarray(eol + 2, eol + 2 + n));
        at = eol + 2 + n + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else {
      if (length < 0) length = 0;
      if (buf.length < end + 4 + length) return;
      body = buf.toString('utf8', end + 4, end + 4 + length);
      consumed = end + 4 + length;
    }
    this.buffer = consumed < buf.length ? buf.subarray(consumed) : null;
    const { resolve } = this.pending;
    this.pending = null;
    if (close && this.socket) { this.socket.destroy(); this.socket = null; }
    resolve({ status, body });
  }

  destroy() { if (this.socket) this.socket.destroy(); this.socket = null; }
}

// ---------------------------------------------------------------------------
// Long-polling clients: one GET always pending (echoes arrive there), and
// POSTs that carry the messages, one POST at a time per session as the
// protocol requires (overlapping POSTs are an error on every server).  Each
// session has two connections, as a browser would: the GET's and the POSTs'.

class PollClient extends Client {
  connect(base) {
    const parsed = new URL(base);
    this.path = parsed.pathname;
    this.getConn = new HttpConnection(parsed.hostname, Number(parsed.port));
    this.postConn = new HttpConnection(parsed.hostname, Number(parsed.port));
    this.outbox = [];
    this.posting = false;
    this.pad = 'x'.repeat(Math.max(size - SEQ_DIGITS, 0));
    return this.request(this.getConn, 'GET', this.path + '?EIO=4&transport=polling', null)
      .then((body) => {
        if (body === null || body[0] !== '0') {
          error('connect', 'handshake answered ' + String(body).slice(0, 80));
          return false;
        }
        const open = JSON.parse(body.slice(1).split('\x1e')[0]);
        this.query = this.path + '?EIO=4&transport=polling&sid=' + encodeURIComponent(open.sid);
        this.open = true;
        this.poll();
        return true;
      });
  }

  request(conn, method, target, body) {
    return conn.request(method, target, body).then(({ status, body: text }) => {
      if (status !== 200) {
        if (!stopping) error(status ? 'http' : 'socket', `${method} ${status} ${text.slice(0, 80)}`);
        return null;
      }
      return text;
    });
  }

  poll() {
    if (stopping) return;
    this.request(this.getConn, 'GET', this.query, null).then((body) => {
      if (body === null) { this.open = false; return; }
      for (const packet of body.split('\x1e')) {
        const type = packet.charCodeAt(0);
        if (type === 0x34) {
          const seq = Number(packet.slice(1, 1 + SEQ_DIGITS));
          this.echoed(Number.isInteger(seq) ? seq : -1, packet.length - 1);
        } else if (type === 0x32) {
          if (measuring) pings += 1;
          this.outbox.push('3');
          this.flush();
        } else if (type === 0x31) {
          error('closed', 'server sent close');
          this.open = false;
          return;
        }
      }
      this.poll();
    });
  }

  transmit(seq) {
    this.outbox.push('4' + String(seq).padStart(SEQ_DIGITS, '0') + this.pad);
    this.flush();
  }

  flush() {
    if (this.posting || this.outbox.length === 0 || stopping) return;
    const body = this.outbox.join('\x1e');
    this.outbox = [];
    this.posting = true;
    this.request(this.postConn, 'POST', this.query, body).then(() => {
      this.posting = false;
      this.flush();
    });
  }

  close() {
    if (this.getConn) this.getConn.destroy();
    if (this.postConn) this.postConn.destroy();
  }
}

// ---------------------------------------------------------------------------
// /proc readings of the server process (all its threads)

// Summed over the server's processes; null when one cannot be read.
function procCpuSeconds() {
  let total = 0;
  for (const pid of serverPids) {
    const value = procCpuSecondsOf(pid);
    if (value === null) return null;
    total += value;
  }
  return serverPids.length ? total : null;
}

function procRssKb() {
  let total = 0;
  for (const pid of serverPids) {
    const value = procRssKbOf(pid);
    if (value === null) return null;
    total += value;
  }
  return serverPids.length ? total : null;
}

function procCpuSecondsOf(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clkTck;
  } catch (e) {
    return null;
  }
}

function procRssKbOf(pid) {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)/.exec(status);
    return match ? Number(match[1]) : null;
  } catch (e) {
    return null;
  }
}

function percentile(sorted, count, p) {
  if (count === 0) return null;
  const index = Math.min(count - 1, Math.max(0, Math.ceil(p / 100 * count) - 1));
  return sorted[index];
}

// ---------------------------------------------------------------------------

let stopping = false;
const sleep = (seconds) => new Promise((r) => setTimeout(r, seconds * 1000));

function withTimeout(promise, seconds) {
  return Promise.race([promise, sleep(seconds).then(() => 'timeout')]);
}

function finish(result, code) {
  stopping = true;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

// Opens `all` with at most `concurrency` handshakes outstanding; resolves
// when each has opened or failed, or with 'timeout'.
function openAll(all, seconds) {
  let next = 0;
  const worker = async () => {
    while (next < all.length && !stopping) await all[next++].connect(url);
  };
  const workers = [];
  for (let i = 0; i < Math.min(concurrency, all.length); i++) workers.push(worker());
  return withTimeout(Promise.all(workers), seconds);
}

function makeClients(count, first) {
  const Kind = transport === 'polling' ? PollClient : WsClient;
  const all = [];
  for (let i = 0; i < count; i++) all.push(new Kind(first + i));
  return all;
}

// Opens `count` sessions; null (after finishing with an error) unless all
// of them opened.
async function openSessions(count, first, seconds) {
  const all = makeClients(count, first);
  const start = performance.now();
  const outcome = await openAll(all, seconds);
  const openSeconds = (performance.now() - start) / 1000;
  const opened = all.filter((c) => c.open);
  if (outcome === 'timeout' || opened.length === 0 ||
      (scenario !== 'echo' && opened.length < count)) {
    // idle and broadcast measure N connections: fewer is a failed run
    errors.connect += all.length - opened.length;
    all.forEach((c) => c.close());
    finish({ error: `only ${opened.length} of ${count} sessions opened` +
      (outcome === 'timeout' ? ` within ${seconds} s` : ''), errors, errorSample }, 2);
    return null;
  }
  errors.connect += all.length - opened.length;
  return { all, opened, openSeconds };
}

async function main() {
  if (!url) throw new Error('config.url is required');
  // The hard stop: whatever happens, this process ends.
  const deadline = scenario === 'idle'
    ? 2 * connectTimeout + settle + 1 + window + 10
    : connectTimeout + warmup + duration + 10;
  setTimeout(() => finish({ error: 'generator deadline exceeded', errors, errorSample }, 3),
    deadline * 1000).unref();
  if (scenario === 'idle') return runIdle();
  if (scenario === 'broadcast') return runBroadcast();

  const session = await openSessions(nClients, 0, connectTimeout);
  if (session === null) return;
  const clients = session.opened;
  const connectSeconds = session.openSeconds;

  running = true;
  let ticker = null;
  if (rate > 0) {
    // Open loop: a 1 ms tick sends whatever is due since the start, spread
    // round-robin over the clients, whatever the server's speed.
    const start = performance.now();
    let offered = 0;
    let next = 0;
    ticker = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 1000 * rate);
      for (; offered < due; offered++) {
        const c = clients[next];
        next = (next + 1) % clients.length;
        if (c.open) c.send();
      }
    }, 1);
  } else {
    for (const c of clients) for (let i = 0; i < inflight; i++) c.send();
  }

  await sleep(warmup);
  const cpu0 = process.cpuUsage();
  const server0 = procCpuSeconds();
  const t0 = performance.now();
  measuring = true;
  await sleep(duration);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const server1 = procCpuSeconds();
  const cpu = process.cpuUsage(cpu0);
  const rss = procRssKb();
  running = false;
  stopping = true;
  if (ticker) clearInterval(ticker);
  clients.forEach((c) => c.close());

  const sorted = latencies.subarray(0, nLatencies).sort();
  const genCpu = (cpu.user + cpu.system) / 1e6;
  const serverCpu = server0 !== null && server1 !== null ? server1 - server0 : null;
  finish({
    transport, batch_writes: batchWrites, clients: clients.length, inflight: rate ? null : inflight,
    offered_rate: rate || null, size, binary,
    connect_seconds: connectSeconds,
    seconds, messages: echoes,
    msgs_per_s: echoes / seconds,
    bytes_per_s: echoBytes / seconds,
    latency_us: {
      p50: percentile(sorted, nLatencies, 50),
      p90: percentile(sorted, nLatencies, 90),
      p99: percentile(sorted, nLatencies, 99),
      max: nLatencies ? sorted[nLatencies - 1] : null,
    },
    server_cpu_s: serverCpu,
    server_cpu_us_per_msg: serverCpu !== null && echoes ? serverCpu * 1e6 / echoes : null,
    server_cpu_pct: serverCpu !== null ? 100 * serverCpu / seconds : null,
    server_rss_kb: rss,
    generator_cpu_s: genCpu,
    generator_cpu_pct: 100 * genCpu / seconds,
    errors, errorSample,
  }, 0);
}

// ---------------------------------------------------------------------------
// idle: N WebSocket sessions that only answer pings.
//
// `idleWarm` sessions are opened first and kept: the first connections pay
// one-time costs (lazily imported modules, buffers, caches) that are not a
// per-connection cost, so the baseline RSS is read after them.  Then N
// sessions are opened, `concurrency` handshakes at a time (the opening rate:
// N / the time from the first handshake to the last open packet), the RSS
// is read again after `settle` seconds, and the server's CPU time is taken
// over `window` idle seconds, in which the generator only answers pings (at
// the default 25 s interval a ping round falls in a 30 s window).

async function runIdle() {
  const warm = await openSessions(idleWarm, 0, connectTimeout);
  if (warm === null) return;
  await sleep(1);
  const rssBaseline = procRssKb();
  const session = await openSessions(nClients, idleWarm, connectTimeout);
  if (session === null) { warm.all.forEach((c) => c.close()); return; }
  const opened = session.opened.length;
  await sleep(settle);
  const rssAfter = procRssKb();
  const cpu0 = process.cpuUsage();
  const server0 = procCpuSeconds();
  const t0 = performance.now();
  measuring = true;
  await sleep(window);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const server1 = procCpuSeconds();
  const rssEnd = procRssKb();
  const cpu = process.cpuUsage(cpu0);
  // connections that closed while idle (counted by the close handlers)
  const stillOpen = warm.all.concat(session.all).filter((c) => c.open).length;
  stopping = true;
  warm.all.forEach((c) => c.close());
  session.all.forEach((c) => c.close());
  const serverCpu = server0 !== null && server1 !== null ? server1 - server0 : null;
  const genCpu = (cpu.user + cpu.system) / 1e6;
  finish({
    scenario, transport, clients: opened, warm: idleWarm, concurrency,
    open_seconds: session.openSeconds,
    conns_per_s: opened / session.openSeconds,
    settle, seconds, still_open: stillOpen,
    pings,                        // answered in the window: ~clients + warm
    server_rss_baseline_kb: rssBaseline,
    server_rss_kb: rssAfter,
    server_rss_end_kb: rssEnd,
    rss_per_conn_kb: rssBaseline !== null && rssAfter !== null
      ? (rssAfter - rssBaseline) / opened : null,
    server_cpu_s: serverCpu,
    server_cpu_pct: serverCpu !== null ? 100 * serverCpu / seconds : null,
    generator_cpu_s: genCpu,
    generator_cpu_pct: 100 * genCpu / seconds,
    errors, errorSample,
  }, 0);
}

// ---------------------------------------------------------------------------
// broadcast: N WebSocket sessions; one of them sends the control message
// `bench:broadcast <hz> <size>` and from then on the server sends one
// message to every session `hz` times a second.  The generator only counts:
// delivered messages, their lag (the server's send time is in the message),
// and the server's CPU time per delivered message.

async function runBroadcast() {
  const session = await openSessions(nClients, 0, connectTimeout);
  if (session === null) return;
  const clients = session.opened;
  clients[0].ws.send(`4bench:broadcast ${hz} ${broadcastSize}`);
  await sleep(warmup);
  const cpu0 = process.cpuUsage();
  const server0 = procCpuSeconds();
  const t0 = performance.now();
  measuring = true;
  await sleep(duration);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const server1 = procCpuSeconds();
  const cpu = process.cpuUsage(cpu0);
  const rss = procRssKb();
  const stillOpen = clients.filter((c) => c.open).length;
  stopping = true;
  clients.forEach((c) => c.close());
  let fewest = Infinity;
  let most = 0;
  for (const c of clients) {
    fewest = Math.min(fewest, c.broadcasts);
    most = Math.max(most, c.broadcasts);
  }
  const sorted = latencies.subarray(0, nLatencies).sort();
  const serverCpu = server0 !== null && server1 !== null ? server1 - server0 : null;
  const genCpu = (cpu.user + cpu.system) / 1e6;
  finish({
    scenario, transport, clients: clients.length, hz, size: broadcastSize,
    connect_seconds: session.openSeconds,
    seconds, still_open: stillOpen,
    messages: broadcasts,
    msgs_per_s: broadcasts / seconds,
    expected_per_s: clients.length * hz,
    per_client_min: fewest, per_client_max: most,
    latency_us: {           // delivery lag: server send time -> arrival
      p50: percentile(sorted, nLatencies, 50),
      p90: percentile(sorted, nLatencies, 90),
      p99: percentile(sorted, nLatencies, 99),
      max: nLatencies ? sorted[nLatencies - 1] : null,
    },
    server_cpu_s: serverCpu,
    server_cpu_us_per_msg: serverCpu !== null && broadcasts ? serverCpu * 1e6 / broadcasts : null,
    server_cpu_pct: serverCpu !== null ? 100 * serverCpu / seconds : null,
    server_rss_kb: rss,
    generator_cpu_s: genCpu,
    generator_cpu_pct: 100 * genCpu / seconds,
    errors, errorSample,
  }, 0);
}

main().catch((err) => finish({ error: String(err && err.stack || err), errors }, 1));
