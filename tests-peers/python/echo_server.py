"""A websockets (asyncio) echo server with permessage-deflate.

Prints "PORT <port>" once listening, then "EXT <Sec-WebSocket-Extensions answer>" for each
connection (empty when compression was declined). Echoes every message, text as text and binary
as binary, until the client closes. Runs until killed.
"""

import asyncio

from websockets.asyncio.server import serve

from common import MAX_SIZE, extension_kwargs, parse_args, say


async def echo(ws):
    say("EXT", ws.response.headers.get("Sec-WebSocket-Extensions", ""))
    async for message in ws:
        await ws.send(message)


async def main():
    port, takeover, bits = parse_args()
    kwargs = extension_kwargs(takeover, bits, server=True)
    async with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, **kwargs) as server:
        say("PORT", server.sockets[0].getsockname()[1])
        await server.serve_forever()


asyncio.run(main())
