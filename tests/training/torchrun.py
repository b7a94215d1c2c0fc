"""Command line of a 2-process ``torchrun`` launch on 127.0.0.1, shared by the DDP tests."""

from __future__ import annotations

import socket
import sys


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free now.

    A fixed port can still be held by an earlier run or another program.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_command(*program: str) -> list[str]:
    """Return the argv that starts ``program`` in two local processes on a free port."""
    port = free_port()
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        *program,
    ]
