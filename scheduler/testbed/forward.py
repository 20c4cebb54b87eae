"""A small user-space TCP forwarder, optionally with added delay (the kernel here has no
netem). Two uses in the netns testbed:
- from the host's loopback into a network namespace (--netns): the listening socket is made
  in the host's namespace, then the process enters the target namespace (setns), so the
  connections it opens to the target are in there; how orbitctl on the host reaches the
  scheduler;
- inside the scheduler's namespace with --delay-ms: the agents connect through it, and every
  byte waits that long in each direction (order kept), like a longer path to orbit.

    python -m scheduler.testbed.forward LISTEN_HOST:PORT TARGET_HOST:PORT
                                        [--netns NAME] [--delay-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
CHUNK_B = 65536


def enter_netns(name: str) -> None:
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if ctypes.CDLL("libc.so.6", use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy reader to writer; with delay_s, each chunk is written delay_s after it was read."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def later() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(later())
    try:
        while data := await reader.read(CHUNK_B):
            queue.put_nowait((time.monotonic() + delay_s, data))
        queue.put_nowait((0.0, b""))
        await sender
    except (ConnectionError, OSError):
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listener: socket.socket, host: str, port: int, delay_s: float) -> None:
    async def handle(r1: asyncio.StreamReader, w1: asyncio.StreamWriter) -> None:
        try:
            r2, w2 = await asyncio.open_connection(host, port)
        except OSError:
            w1.close()
            return
        await asyncio.gather(_pipe(r1, w2, delay_s), _pipe(r2, w1, delay_s))

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="forward", description=__doc__.splitlines()[0])
    p.add_argument("listen", type=_address)
    p.add_argument("target", type=_address)
    p.add_argument("--netns", help="connect to the target from inside this namespace")
    p.add_argument("--delay-ms", type=float, default=0.0, help="added one-way delay")
    args = p.parse_args(argv)
    if not 0 <= args.delay_ms <= 60_000:
        p.error("--delay-ms: expected 0 to 60000")
    listener = socket.create_server(args.listen)
    if args.netns:
        enter_netns(args.netns)
    print(
        f"forwarding {args.listen[0]}:{args.listen[1]} -> {args.netns or ''} "
        f"{args.target[0]}:{args.target[1]}, delay {args.delay_ms:g} ms",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        host, port = args.target
        asyncio.run(serve(listener, host, port, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
