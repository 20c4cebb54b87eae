"""The testbed's user-space forwarder, on loopback (no namespace, no root): bytes pass both
ways unchanged and in order, and --delay-ms adds that delay in each direction."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from scheduler.cluster.local import free_port


@contextmanager
def echo_server() -> Iterator[int]:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        srv.close()


@contextmanager
def forwarder(target_port: int, delay_ms: float) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.testbed.forward", f"127.0.0.1:{port}",
         f"127.0.0.1:{target_port}", "--delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert b"forwarding" in proc.stdout.readline()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def round_trip_s(port: int, payload: bytes) -> tuple[float, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            assert chunk, "connection closed early"
            got += chunk
        return time.monotonic() - t0, got


@pytest.mark.parametrize("delay_ms", [0.0, 150.0])
def test_forwarder_passes_bytes_in_order_with_the_added_delay(delay_ms: float) -> None:
    payload = bytes(range(256)) * 2000  # 512 kB, several chunks
    with echo_server() as target, forwarder(target, delay_ms) as port:
        rtt_s, got = round_trip_s(port, payload)
        assert got == payload
        small_rtt_s, _ = round_trip_s(port, b"ping")
    # Through the proxy twice each way (request and echo): 2 * delay at least.
    assert small_rtt_s >= 2 * delay_ms / 1000
    assert small_rtt_s < 2 * delay_ms / 1000 + 1.0
    assert rtt_s >= 2 * delay_ms / 1000


def test_forwarder_rejects_bad_arguments() -> None:
    for bad in (["127.0.0.1", "127.0.0.1:1"], ["127.0.0.1:1", "x:1", "--delay-ms", "-5"]):
        r = subprocess.run(
            [sys.executable, "-m", "scheduler.testbed.forward", *bad],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert r.returncode == 2 and "expected" in r.stderr, r.stderr
