"""Kernel transport of a report run: ZeroMQ IPC where available, else TCP on the loopback address.

jupyter_client 8.10 connects to a kernel over TCP on the loopback address (127.0.0.1) by default,
without transport encryption, and ipykernel 7 logs a warning about it at every start. Over IPC
transport the channels are Unix domain sockets in a private temporary folder (mode 0700), so no code or
output crosses a TCP port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq
from traitlets.config import Config

logger = logging.getLogger(__name__)

# A Unix domain socket path must fit in sun_path: 108 bytes on Linux and 104 on macOS, including the
# terminating NUL byte.
MAX_SOCKET_PATH_BYTES = 103


@contextlib.contextmanager
def kernel_transport_config() -> Iterator[dict[str, Any]]:
    """Yield papermill engine arguments that make the kernel listen on Unix domain sockets.

    papermill passes the ``config`` argument to nbclient's NotebookClient, which gives it to the
    KernelManager it creates. The connection file and the sockets, which jupyter_client names
    ``kernel-ipc-<n>`` after it, go into a new temporary folder that is removed when the block ends.

    On Windows, where pyzmq has no IPC transport, or when the temporary folder's path is too long for a
    socket path, it yields no arguments and the kernel uses TCP on the loopback address.
    """
    if sys.platform == "win32" or not zmq.has("ipc"):
        yield {}
        return

    with tempfile.TemporaryDirectory(prefix="workbench-kernel-") as folder:
        # jupyter_client numbers the sockets from 1, one per channel: 1 to 5 in a new folder.
        longest_socket = Path(folder) / "kernel-ipc-99"
        if len(os.fsencode(longest_socket)) > MAX_SOCKET_PATH_BYTES:
            logger.info(
                "Kernel uses TCP because its socket paths in %s would exceed %d bytes",
                folder,
                MAX_SOCKET_PATH_BYTES,
            )
            yield {}
            return

        config = Config()
        config.KernelManager.transport = "ipc"
        config.KernelManager.connection_file = str(Path(folder) / "kernel.json")
        yield {"config": config}
