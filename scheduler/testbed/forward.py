"""A TCP forwarder from the host's loopback into a network namespace: how orbitctl on the
host reaches a scheduler that lives only in its namespace. The listening socket is made in
the host's namespace, then the process enters the target namespace (setns), so every socket
it opens afterwards, the connections to the target, is in there.

    python -m scheduler.testbed.forward LISTEN_PORT NETNS TARGET_HOST TARGET_PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if ctypes.CDLL("libc.so.6", use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        try:
            r2, w2 = await asyncio.open_connection(host, port)
        except OSError:
            w1.close()
            return
        await asyncio.gather(_pipe(r1, w2), _pipe(r2, w1))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    listen_port, netns, host, port = int(argv[0]), argv[1], argv[2], int(argv[3])
    listener = socket.create_server(("127.0.0.1", listen_port))
    enter_netns(netns)
    print(f"forwarding 127.0.0.1:{listen_port} -> {netns} {host}:{port}", flush=True)
    asyncio.run(serve(listener, host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
