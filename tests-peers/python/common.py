"""Shared command-line handling for the Python peers.

Usage of every peer: <port> <takeover> <bits>
  port      the port to listen on (0: any free port) or to connect to
  takeover  "on" (context takeover, the RFC's default), "off" (server_no_context_takeover and
            client_no_context_takeover), or "default" (the library's own permessage-deflate
            defaults; bits is then ignored)
  bits      server_max_window_bits and client_max_window_bits (9 to 15), or "none"
"""

import sys

from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

# Messages up to 64 MiB, as coro-websocket allows by default (websockets' own default is 1 MiB).
MAX_SIZE = 64 << 20


def parse_args():
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} <port> <on|off|default> <9..15|none>")
    port = int(sys.argv[1])
    takeover = sys.argv[2]
    if takeover not in ("on", "off", "default"):
        sys.exit(f"takeover must be on, off or default, not {takeover!r}")
    bits = None if sys.argv[3] == "none" else int(sys.argv[3])
    return port, takeover, bits


def extension_kwargs(takeover, bits, server):
    """Keyword arguments for serve()/connect(): compression settings."""
    if takeover == "default":
        return {"compression": "deflate"}
    no_takeover = takeover == "off"
    factory = ServerPerMessageDeflateFactory if server else ClientPerMessageDeflateFactory
    settings = dict(
        server_no_context_takeover=no_takeover,
        client_no_context_takeover=no_takeover,
        server_max_window_bits=bits,
        client_max_window_bits=bits,
    )
    if not server and bits is None:
        # Say that the server may limit our window, as websockets does by default.
        settings["client_max_window_bits"] = True
    return {"compression": None, "extensions": [factory(**settings)]}


def say(*parts):
    print(*parts, flush=True)
