'use strict';
// Shared command-line handling for the Node peers.
//
// Usage of every peer: <port> <takeover> <bits>
//   port      the port to listen on (0: any free port) or to connect to
//   takeover  "on" (context takeover, the RFC's default), "off" (server_no_context_takeover and
//             client_no_context_takeover), or "default" (ws's own permessage-deflate defaults;
//             bits is then ignored)
//   bits      serverMaxWindowBits and clientMaxWindowBits (9 to 15), or "none"

function parseArgs() {
  const args = process.argv.slice(2);
  if (args.length !== 3) {
    console.error(`usage: ${process.argv[1]} <port> <on|off|default> <9..15|none>`);
    process.exit(2);
  }
  const port = Number(args[0]);
  const takeover = args[1];
  if (!['on', 'off', 'default'].includes(takeover)) {
    console.error(`takeover must be on, off or default, not ${takeover}`);
    process.exit(2);
  }
  const bits = args[2] === 'none' ? undefined : Number(args[2]);
  return { port, takeover, bits };
}

// The perMessageDeflate option of ws.
function deflateOptions({ takeover, bits }, server) {
  if (takeover === 'default') {
    return true;
  }
  const noTakeover = takeover === 'off';
  const opts = {
    serverNoContextTakeover: noTakeover,
    clientNoContextTakeover: noTakeover,
    // Compress every message, however small (ws's default threshold is 1024 bytes).
    threshold: 0,
  };
  if (bits !== undefined) {
    opts.serverMaxWindowBits = bits;
    opts.clientMaxWindowBits = bits;
  } else if (!server) {
    opts.clientMaxWindowBits = true;
  }
  return opts;
}

// The negotiated permessage-deflate parameters as a Sec-WebSocket-Extensions value ("" if none).
function negotiated(ws) {
  const ext = ws._extensions && ws._extensions['permessage-deflate'];
  if (!ext || !ext.params) {
    return '';
  }
  const parts = ['permessage-deflate'];
  for (const [key, value] of Object.entries(ext.params)) {
    parts.push(value === true ? key : `${key}=${value}`);
  }
  return parts.join('; ');
}

// Messages up to 64 MiB, as coro-websocket allows by default.
const MAX_PAYLOAD = 64 << 20;

module.exports = { parseArgs, deflateOptions, negotiated, MAX_PAYLOAD };
