"""A TLS front for the simulator, on loopback: the tap speaks https:// to it, it speaks plain
HTTP to the simulator. Its certificate (tests/tls/, for 127.0.0.1, a test's own: no secret) is
trusted only where a test says so (`REQUESTS_CA_BUNDLE`); its first ``cut`` connections are cut
off in the middle of the handshake, as a proxy or load balancer now and then does."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import typing as t
from pathlib import Path

CERTIFICATE = Path(__file__).parent / "tls" / "cert.pem"


@contextlib.contextmanager
def tls_front(upstream_port: int, *, cut: int = 0) -> t.Iterator[int]:
    """The port of a TLS front for ``upstream_port``, until the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE, CERTIFICATE.parent / "key.pem")
    server = socket.create_server(("127.0.0.1", 0))
    accepted = 0

    def serve() -> None:
        nonlocal accepted
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # closed: the block ended
                return
            accepted += 1
            threading.Thread(target=handle, args=(client, accepted), daemon=True).start()

    def handle(client: socket.socket, number: int) -> None:
        with client, contextlib.suppress(OSError):
            if number <= cut:
                client.recv(4096)  # the ClientHello, then nothing: the handshake is cut off
                return
            with (
                context.wrap_socket(client, server_side=True) as secure,
                socket.create_connection(("127.0.0.1", upstream_port)) as upstream,
            ):
                back = threading.Thread(target=pipe, args=(secure, upstream), daemon=True)
                back.start()
                pipe(upstream, secure)
                back.join(5)

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
