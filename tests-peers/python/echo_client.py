"""A websockets (asyncio) client with permessage-deflate that echoes what the server sends.

Connects to ws://127.0.0.1:<port>/, prints "EXT <Sec-WebSocket-Extensions answer>", sends one
text message of its own ("hello from python"), then sends back every message it receives, text
as text and binary as binary. When the server closes it prints "CLOSED <code> <messages echoed>"
and exits 0; any failure exits non-zero.
"""

import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from common import MAX_SIZE, extension_kwargs, parse_args, say


async def main():
    port, takeover, bits = parse_args()
    kwargs = extension_kwargs(takeover, bits, server=False)
    async with connect(f"ws://127.0.0.1:{port}/", max_size=MAX_SIZE, **kwargs) as ws:
        say("EXT", ws.response.headers.get("Sec-WebSocket-Extensions", ""))
        await ws.send("hello from python")
        count = 0
        try:
            async for message in ws:
                await ws.send(message)
                count += 1
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        code = ws.close_code
    say("CLOSED", code, count)


asyncio.run(main())
