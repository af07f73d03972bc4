'use strict';
// A ws client with permessage-deflate that echoes what the server sends.
//
// Connects to ws://127.0.0.1:<port>/, prints "EXT <negotiated parameters>", sends one text
// message of its own ("hello from node"), then sends back every message it receives, text as
// text and binary as binary. When the server closes it prints "CLOSED <code> <messages echoed>"
// and exits 0; any failure exits non-zero.

const WebSocket = require('ws');
const { parseArgs, deflateOptions, negotiated, MAX_PAYLOAD } = require('./common');

const args = parseArgs();
const ws = new WebSocket(`ws://127.0.0.1:${args.port}/`, {
  perMessageDeflate: deflateOptions(args, false),
  maxPayload: MAX_PAYLOAD,
});
let count = 0;

ws.on('open', () => {
  console.log(`EXT ${negotiated(ws)}`);
  ws.send('hello from node');
});
ws.on('message', (data, isBinary) => {
  ws.send(data, { binary: isBinary });
  count += 1;
});
ws.on('close', (code) => {
  console.log(`CLOSED ${code} ${count}`);
  process.exitCode = 0;
});
ws.on('error', (err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
