"""Command line of a 2-process ``torchrun`` launch on 127.0.0.1, shared by the DDP tests."""

from __future__ import annotations

import sys


def torchrun_command(port: int, *program: str) -> list[str]:
    """Return the argv that starts ``program`` in two local processes on ``port``."""
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
