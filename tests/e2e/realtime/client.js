// socket.io-client 2.x (Engine.IO 3) against the local stack, run by tests/e2e/test_entities_socketio.py.
//
//   node client.js BASE_URL "sid=..." STORE
//
// Connects over the websocket transport with the session cookie, waits for two pongs, creates an entity
// in STORE over HTTP and waits for its "<STORE>:created" event. Prints one JSON line per observation and
// exits 0 once it has everything, 1 on an error or after 30 s.
'use strict';

const io = require('socket.io-client');

const [base, cookie, store] = process.argv.slice(2);
const print = (kind, data) => process.stdout.write(JSON.stringify({ kind, data }) + '\n');
let pongs = 0;
let created = null;
let event = null;

const socket = io(base, {
  transports: ['websocket'],
  extraHeaders: { Cookie: cookie },
  reconnection: false,
  timeout: 10000,
});
socket.io.engine.on('handshake', (data) => print('open', data));
socket.io.engine.on('packet', (packet) => print('packet', { type: packet.type, data: packet.data }));
socket.on('connect', () => print('connect', { id: socket.id }));
socket.on('connect_error', (error) => finish(1, 'connect_error', String(error)));
socket.on('disconnect', (reason) => print('disconnect', reason));
socket.io.on('pong', async (latency) => {
  pongs += 1;
  print('pong', { latency });
  if (pongs !== 2) return;
  const response = await fetch(`${base}/api/v1/${store}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookie },
    body: JSON.stringify({ name: 'from node', reading: 0.1 }),
  });
  created = await response.json();
  print('created', { status: response.status, entity: created });
  done();
});
socket.on(`${store}:created`, (entity) => {
  event = entity;
  print('event', entity);
  done();
});

function done() {
  if (created && event) finish(0, 'done', null);
}

function finish(code, kind, data) {
  print(kind, data);
  socket.close();
  process.exit(code);
}

setTimeout(() => finish(1, 'timeout', { pongs, created: !!created, event: !!event }), 30000);
