"""Faster paths around costs of the Pulumi Python SDK that grow with the number of resources.

Stdlib only besides the SDK: run_program.py imports this inside the program's own virtualenv.
Measured on `pulumi preview` of novalab at 10 hosts / 100 servers (SDK 3.260.0 and 3.272.0 have the
same code here), these took most of the program's event-loop thread, and the engine's CPU:

- Debug logs. The SDK sends 4-5 debug messages per resource as blocking `Engine.Log` calls, most
  from the event loop's thread, so each registration waits for the engine to answer each message
  (upstream cut their number twice: https://github.com/pulumi/pulumi/pull/7295,
  https://github.com/pulumi/pulumi/pull/17489). `EngineLog` sends every message, in order, from
  one thread: a debug message no longer blocks its caller, any other severity still returns only
  once it has been sent, after every message before it, as the SDK's own call does.
- The SDK's own debug lines. Even unblocked, those per-resource lines ("registering resource",
  "RegisterResource RPC prepared", ...) cost the program and the engine a Log call each: 3,000 of
  them took 0.7 s of CPU and 0.3 s of a 2.7 s preview on 2 cores, and only `--debug` or an
  `--event-log` shows them. `quiet_sdk_debug` leaves out the lines the SDK logs about its own work,
  as upstream's `excessive_debug_output` already does for the rest of them (pulumi/pulumi#7295);
  the program's own `pulumi.log.debug` messages are sent as before. NOVALAB_SDK_DEBUG_LOGS=on
  sends the SDK's too (./novalab sets it when given --debug or --event-log).
- Waiting for outstanding outputs. After the program returns, `wait_for_rpcs` waits for all pending
  outputs with `asyncio.wait(FIRST_COMPLETED)` and again after every completion, adding and removing
  a callback on thousands of tasks each round (https://github.com/pulumi/pulumi/pull/22411; asyncio's
  https://github.com/python/cpython/issues/74741). `settle()` first waits for the same
  registrations and outputs with one callback per task; the SDK's loop then finds them done and
  consumes their results and errors exactly as before. Not for a program with `pulumi.run(main)`:
  its outputs may wait for `main`, which runs after the module.

The two go together. Without blocking debug calls the SDK's own wait turns far more often; wherever
settle leaves outputs in flight to it, messages go straight to the engine again (see settle).

One more cost of the program's one busy thread, which runs the SDK's event loop (py-spy --gil at
the same size: that loop held the GIL 2.3 s of the 3.4 s the program ran):

- Garbage collection. The SDK allocates a few thousand objects per resource (outputs, futures,
  protobuf messages), so the collector's default first threshold (700) runs a collection every few
  registrations, and each older-generation pass walks the whole imported SDK again. `tune_gc`
  freezes what is imported before the program runs and collects less often
  (https://docs.python.org/3/library/gc.html#gc.freeze). Cycles are still collected.

None of them changes the resources, inputs, dependencies, secrets and outputs the program sends:
they are the SDK's own. Only when the program waits changes, and which of the SDK's own debug lines
are sent. NOVALAB_SDK_SPEEDUPS=off leaves the SDK as it is.
"""

from __future__ import annotations

import asyncio
import gc
import os
import queue
import sys
import threading
from concurrent.futures import Future
from typing import Any, Optional

SWITCH = "NOVALAB_SDK_SPEEDUPS"
SDK_DEBUG_SWITCH = "NOVALAB_SDK_DEBUG_LOGS"  # "on": the SDK's own debug lines are sent too
# A collection after 20,000 net allocations instead of 700, and the older generations after 50 and
# 100 of the younger ones' instead of 10 and 10: 0.6 s less of a 3.9 s preview at 10 hosts / 100
# servers (20,000 and 50,000 gave the same within noise).
GC_THRESHOLDS = (20_000, 50, 100)


def enabled() -> bool:
    return os.environ.get(SWITCH, "on") != "off"


class EngineLog:
    """An engine client whose `Log` sends in order from one thread (see the module docstring).
    Everything else is the wrapped client's own."""

    def __init__(self, engine: Any, debug_severity: int) -> None:
        self._engine = engine
        self._debug = debug_severity
        self.direct = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._send, name="novalab-engine-log", daemon=True).start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def Log(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - the gRPC method
        if self.direct:
            return self._engine.Log(request, *args, **kwargs)
        if request.severity == self._debug:
            self._queue.put((request, args, kwargs, None))
            return None
        sent: Future = Future()
        self._queue.put((request, args, kwargs, sent))
        return sent.result()

    def send_directly(self) -> None:
        """Sends what is queued, then every later message from its caller's thread, as the SDK's
        own call does."""
        self.direct = True
        self.flush()

    def flush(self) -> None:
        """Returns once every message logged before the call has been sent."""
        sent: Future = Future()
        self._queue.put((None, (), {}, sent))
        sent.result()

    def _send(self) -> None:
        while True:
            request, args, kwargs, sent = self._queue.get()
            try:
                result = None if request is None else self._engine.Log(request, *args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the waiting caller gets it, as from its own call
                if sent is not None:
                    sent.set_exception(e)
                # A debug message the engine refused is dropped: the engine is gone, and the run
                # fails on its next registration with the SDK's own error.
                continue
            if sent is not None:
                sent.set_result(result)


_engine_log: Optional[EngineLog] = None  # the one install_engine_log put in place


def install_engine_log() -> Optional[EngineLog]:
    """Puts an EngineLog in front of the configured engine client; call after
    pulumi.runtime.configure. None when there is no engine or the speedups are off."""
    from pulumi.runtime import settings
    from pulumi.runtime.proto import engine_pb2

    engine = settings.get_engine()
    if engine is None or not enabled():
        return None
    global _engine_log
    _engine_log = EngineLog(engine, engine_pb2.DEBUG)
    settings.SETTINGS.engine = _engine_log
    if os.environ.get(SDK_DEBUG_SWITCH, "off") != "on":
        quiet_sdk_debug()
    return _engine_log


class _QuietDebugLog:
    """`pulumi.log` as the SDK's own modules see it: `debug` sends nothing while EngineLog queues
    messages; everything else is the module's own."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def debug(self, msg: str, resource: Any = None, stream_id: Optional[int] = None,
              ephemeral: Optional[bool] = None) -> None:
        if _engine_log is not None and _engine_log.direct:
            self._log.debug(msg, resource, stream_id, ephemeral)


def quiet_sdk_debug() -> None:
    """The SDK's modules, each of which logs through its own `log` name (`from .. import log`), get
    a `pulumi.log` that leaves out their debug lines (see the module docstring). `pulumi.log` itself
    is untouched, so whatever the program logs is sent, even through an SDK callback such as
    `output.apply(pulumi.log.debug)`. Where settle leaves the waiting to the SDK, the SDK sends all
    of its lines itself again, as without the speedups."""
    import pulumi.log

    quiet = _QuietDebugLog(pulumi.log)
    for name, module in list(sys.modules.items()):
        if name.startswith("pulumi.") and getattr(module, "log", None) is pulumi.log:
            module.log = quiet


def _in_flight() -> Optional[list]:
    """The registrations and outputs the SDK's wait_for_rpcs waits for that are still running;
    None when this SDK keeps them elsewhere (then settle leaves all the waiting to it)."""
    from pulumi.runtime import settings

    state = settings.SETTINGS
    rpcs = getattr(getattr(state, "rpc_manager", None), "rpcs", None)
    outputs, lock = getattr(state, "outputs", None), getattr(state, "lock", None)
    if not isinstance(rpcs, list) or not isinstance(outputs, set) or lock is None:
        return None
    with lock:
        tasks = [*rpcs, *outputs]
    return [t for t in tasks if not t.done()]


def _async_program_pending() -> bool:
    """Whether the program registered `pulumi.run(main)`, or this SDK has no way to tell. Such a
    program runs `main` only after the module has run, and its outputs may wait for it: settling
    first would wait for ever, so the SDK's own loop does all the waiting."""
    from pulumi.runtime import settings

    root = settings.get_root_resource()
    return root is None or getattr(root, "_async_program", True) is not None


async def settle() -> None:
    """Waits until no registration or output is in flight, or until one has failed: the SDK's own
    wait then reports the failure as it always does. Results and errors are left to the SDK.

    Whenever it leaves outputs in flight to the SDK's wait, the SDK sends its messages itself
    again: that wait turns once per completion, and without the blocking debug calls in between it
    turned so often that novalab's preview at 10 hosts / 100 servers took 14 s instead of 8.5 s."""
    if not enabled():
        return
    if _async_program_pending() or not await _settled():
        if _engine_log is not None:
            _engine_log.send_directly()


async def _settled() -> bool:
    """True once nothing is in flight; False when it stopped early (a failure, or an SDK that
    keeps its registrations elsewhere)."""
    from pulumi.runtime import settings

    while True:
        await asyncio.sleep(0)  # the registrations the program just queued start
        pending = _in_flight()
        if pending is None:
            return False
        rpc_manager = getattr(settings.SETTINGS, "rpc_manager", None)
        if getattr(rpc_manager, "unhandled_exception", None) is not None:
            return False
        if not pending:
            return True
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        if any(not t.cancelled() and t.exception() is not None for t in done):
            return False


def tune_gc() -> None:
    """Fewer collections, and none that walk the modules imported so far (see the module docstring).
    Call once the SDK is imported, before the program runs."""
    if not enabled():
        return
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
