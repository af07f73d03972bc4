'use strict';
// A WebSocket client over HTTP/2 (RFC 8441) on nothing but Node's own `http2` module: it opens
// the stream by extended CONNECT and encodes and decodes RFC 6455 frames itself, so that no
// WebSocket library of ours or anyone else's is involved. Needs no npm package.
//
// Usage: node h2_websocket_client.js <URL> [deflate]
//   URL      http://HOST:PORT/PATH (HTTP/2 by prior knowledge) or https://... (ALPN h2; the
//            certificate is not checked)
//   deflate  offer permessage-deflate without context takeover, and inflate what comes back
//
// Prints "STATUS <code>", "EXT <sec-websocket-extensions or nothing>", one "ECHO <kind> <length>
// <ok|MISMATCH>" per message sent (with " deflated" if it came compressed), "CLOSE <code>" for
// the server's close frame, and "END" when the stream ends cleanly; exits 0 only if every echo
// matched and the close was 1000.

const http2 = require('http2');
const crypto = require('crypto');
const zlib = require('zlib');

const [url, mode] = process.argv.slice(2);
if (!url) {
  console.error('usage: node h2_websocket_client.js <http(s)://HOST:PORT/PATH> [deflate]');
  process.exit(2);
}
const deflate = mode === 'deflate';
const target = new URL(url);

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

// RFC 6455 §5.2: one final, masked frame (clients MUST mask).
function encodeFrame(opcode, payload) {
  const mask = crypto.randomBytes(4);
  let head;
  if (payload.length < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
  } else if (payload.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) {
    masked[i] = payload[i] ^ mask[i % 4];
  }
  return Buffer.concat([head, mask, masked]);
}

// Takes whole frames off the front of `buffer`: [{fin, rsv1, opcode, payload}], rest.
function decodeFrames(buffer) {
  const frames = [];
  for (;;) {
    if (buffer.length < 2) break;
    const fin = (buffer[0] & 0x80) !== 0;
    const rsv1 = (buffer[0] & 0x40) !== 0;
    const opcode = buffer[0] & 0x0f;
    if (buffer[1] & 0x80) fail('the server masked a frame (RFC 6455 §5.1 forbids it)');
    let length = buffer[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffer.length < 4) break;
      length = buffer.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.length < 10) break;
      length = Number(buffer.readBigUInt64BE(2));
      offset = 10;
    }
    if (buffer.length < offset + length) break;
    frames.push({ fin, rsv1, opcode, payload: buffer.subarray(offset, offset + length) });
    buffer = buffer.subarray(offset + length);
  }
  return [frames, buffer];
}

// The messages sent, each expected back with its type: text, binary, and one long enough for
// the 64-bit length form.
const big = Buffer.alloc(70000);
for (let i = 0; i < big.length; i++) big[i] = i % 251;
const messages = [
  { opcode: 1, kind: 'text', payload: Buffer.from('hello over HTTP/2 from node') },
  { opcode: 2, kind: 'binary', payload: Buffer.from([0, 1, 2, 253, 254, 255]) },
  { opcode: 2, kind: 'binary', payload: big },
];

const session = http2.connect(target.origin, { rejectUnauthorized: false });
session.on('error', (err) => fail(`session: ${err.message}`));
session.on('remoteSettings', (settings) => {
  if (!settings.enableConnectProtocol) {
    fail('the server does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL');
  }
  open();
});

let opened = false;
function open() {
  if (opened) return;
  opened = true;
  const headers = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': target.protocol.replace(':', ''),
    ':path': target.pathname + target.search,
    ':authority': target.host,
    'sec-websocket-version': '13',
  };
  if (deflate) {
    headers['sec-websocket-extensions'] =
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  }
  const stream = session.request(headers, { endStream: false });
  stream.on('error', (err) => fail(`stream: ${err.message}`));
  stream.on('response', (response) => {
    console.log(`STATUS ${response[':status']}`);
    if (response[':status'] !== 200) fail(`status ${response[':status']}`);
    console.log(`EXT ${response['sec-websocket-extensions'] || ''}`);
    exchange(stream);
  });
}

function exchange(stream) {
  let buffer = Buffer.alloc(0);
  let next = 0;
  let allMatched = true;
  let closeCode = null;
  for (const m of messages) stream.write(encodeFrame(m.opcode, m.payload));
  stream.on('data', (chunk) => {
    let frames;
    [frames, buffer] = decodeFrames(Buffer.concat([buffer, chunk]));
    for (const frame of frames) {
      if (!frame.fin) fail('a fragmented echo (not expected for these sizes)');
      if (frame.opcode === 8) {
        closeCode = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
        console.log(`CLOSE ${closeCode}`);
        // Our close was sent first; the server's answer ends the closing handshake.
        stream.end();
        continue;
      }
      let payload = frame.payload;
      if (frame.rsv1) {
        if (!deflate) fail('RSV1 set without permessage-deflate');
        // RFC 7692 §7.2.2: append 00 00 ff ff, then inflate (no context takeover).
        // The data ends with a sync flush, not a final block: flush the same way.
        payload = zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
      }
      const sent = messages[next++];
      if (!sent) fail('more messages than were sent');
      const ok = frame.opcode === sent.opcode && payload.equals(sent.payload);
      allMatched = allMatched && ok;
      console.log(`ECHO ${sent.kind} ${payload.length} ${ok ? 'ok' : 'MISMATCH'}${frame.rsv1 ? ' deflated' : ''}`);
      if (next === messages.length) {
        const body = Buffer.alloc(2);
        body.writeUInt16BE(1000, 0);
        stream.write(encodeFrame(8, body));
      }
    }
  });
  stream.on('end', () => {
    console.log('END');
    session.close();
    process.exitCode = allMatched && next === messages.length && closeCode === 1000 ? 0 : 1;
  });
}
