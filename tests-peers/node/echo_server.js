'use strict';
// A ws echo server with permessage-deflate.
//
// Prints "PORT <port>" once listening, then "EXT <negotiated parameters>" for each connection
// (empty when compression was declined). Echoes every message, text as text and binary as
// binary. Runs until killed.

const { WebSocketServer } = require('ws');
const { parseArgs, deflateOptions, negotiated, MAX_PAYLOAD } = require('./common');

const args = parseArgs();
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: args.port,
  perMessageDeflate: deflateOptions(args, true),
  maxPayload: MAX_PAYLOAD,
});

wss.on('listening', () => {
  console.log(`PORT ${wss.address().port}`);
});

wss.on('connection', (ws) => {
  console.log(`EXT ${negotiated(ws)}`);
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', (err) => console.error(`connection error: ${err.message}`));
});
