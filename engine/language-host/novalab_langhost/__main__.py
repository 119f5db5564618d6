"""Entry point: `pulumi-language-python [FLAGS...] ENGINE_ADDRESS`.

Serves the LanguageRuntime on a free loopback port and prints the port on the first line of stdout,
which is how the CLI finds it. The CLI ends the host with SIGINT when the run is over: that is a
normal end, so it stops quietly (a traceback there would land in the run's diagnostics).
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

from .sdk_protos import without_the_sdk

without_the_sdk()  # before the first import of pulumi.runtime.proto

import grpc  # noqa: E402
from pulumi.runtime.proto import language_pb2_grpc  # noqa: E402

from .host import LanguageHost  # noqa: E402
from .reparent import when_reparented  # noqa: E402

# The engine's messages (a whole program's config, a schema) can be large.
MAX_MESSAGE = 400 * 1024 * 1024


def engine_address(argv: list[str]) -> str:
    """The CLI passes flags (`-root=...`, `-tracing=...`) and the engine's address last."""
    positional = [a for a in argv if not a.startswith("-")]
    return positional[-1] if positional else ""


def main(argv: list[str]) -> int:
    # Handlers first: the CLI may interrupt the host as soon as it has the port.
    stopped = threading.Event()

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        stopped.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    host = LanguageHost(engine_address(argv))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)

    # An engine killed with SIGKILL never interrupts us: end with it.
    when_reparented(stopped.set, stop=stopped)
    stopped.wait()
    host.terminate_children()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
