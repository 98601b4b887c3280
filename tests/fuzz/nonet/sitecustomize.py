"""No network for a fuzz case: any connection to a non-loopback address fails with OSError.

Loaded as ``sitecustomize`` by a fresh interpreter (this folder first on PYTHONPATH), and called by the
fork server before it forks a case. Loopback stays open (torchrun's rendezvous is on 127.0.0.1).
"""

from __future__ import annotations

import socket

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")


def _local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = str(address[0]) if isinstance(address, tuple) and address else ""
    return host.startswith(_LOOPBACK)


def block_network() -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):  # type: ignore[no-untyped-def]
        if not _local(address):
            raise OSError(101, f"network disabled by the fuzz harness: {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if not _local(address):
            return 101
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host is not None and not str(host).startswith(_LOOPBACK):
            raise socket.gaierror(-3, f"network disabled by the fuzz harness: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


block_network()
