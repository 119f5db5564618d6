"""The language host's faster paths around the Pulumi SDK (sdk_speedups.py): a program sends the
engine exactly what it sends without them, and its debug logs no longer hold up its registrations."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc

HOST_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HOST_DIR / "novalab_langhost"))

from sdk_speedups import GC_THRESHOLDS, SDK_DEBUG_SWITCH, SWITCH, EngineLog  # noqa: E402

RUNNER = HOST_DIR / "novalab_langhost" / "run_program.py"
DEBUG, INFO, WARNING, ERROR = engine_pb2.DEBUG, engine_pb2.INFO, engine_pb2.WARNING, engine_pb2.ERROR


# --- EngineLog by itself --------------------------------------------------------------------------


class HeldEngine:
    """An engine client whose Log answers only once released; it records what it was sent."""

    def __init__(self, fail_on: str = ""):
        self.sent: list[str] = []
        self.threads: list[int] = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def Log(self, request):  # noqa: N802
        assert self.release.wait(30), "the test never released the engine"
        if request.message == self.fail_on:
            raise RuntimeError(f"engine refused {request.message}")
        self.sent.append(request.message)
        self.threads.append(threading.get_ident())
        return "answer"

    def GetRootResource(self, request):  # noqa: N802
        return "root"


def log(severity: int, message: str) -> engine_pb2.LogRequest:
    return engine_pb2.LogRequest(severity=severity, message=message)


def in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_a_debug_message_returns_before_the_engine_answers():
    engine = HeldEngine()
    wrapped = EngineLog(engine, DEBUG)
    caller = in_thread(lambda: [wrapped.Log(log(DEBUG, f"d{i}")) for i in range(3)])
    caller.join(10)
    assert not caller.is_alive(), "a debug message waited for the engine"
    assert engine.sent == []
    engine.release.set()
    wrapped.flush()
    assert engine.sent == ["d0", "d1", "d2"]


def test_other_severities_return_once_sent_after_everything_before_them():
    engine = HeldEngine()
    wrapped = EngineLog(engine, DEBUG)
    wrapped.Log(log(DEBUG, "d0"))
    answers: list = []
    caller = in_thread(lambda: answers.append(wrapped.Log(log(WARNING, "w1"))))
    caller.join(0.5)
    assert caller.is_alive() and answers == [], "a warning returned before the engine had it"
    engine.release.set()
    caller.join(10)
    assert answers == ["answer"] and engine.sent == ["d0", "w1"]


def test_messages_reach_the_engine_in_the_order_they_were_logged():
    engine = HeldEngine()
    engine.release.set()
    wrapped = EngineLog(engine, DEBUG)
    order = [(DEBUG, "a"), (INFO, "b"), (DEBUG, "c"), (DEBUG, "d"), (ERROR, "e"), (DEBUG, "f"), (WARNING, "g")]
    for severity, message in order:
        wrapped.Log(log(severity, message))
    wrapped.flush()
    assert engine.sent == [m for _, m in order]


def test_an_engine_error_reaches_the_caller_of_a_non_debug_message():
    engine = HeldEngine(fail_on="e1")
    engine.release.set()
    wrapped = EngineLog(engine, DEBUG)
    with pytest.raises(RuntimeError, match="engine refused e1"):
        wrapped.Log(log(ERROR, "e1"))
    wrapped.Log(log(DEBUG, "d2"))
    wrapped.flush()
    assert engine.sent == ["d2"]


def test_after_send_directly_the_caller_sends_each_message_itself_after_the_queued_ones():
    engine = HeldEngine()
    wrapped = EngineLog(engine, DEBUG)
    wrapped.Log(log(DEBUG, "d0"))  # held: the engine has not been released yet
    switched = in_thread(wrapped.send_directly)
    switched.join(0.5)
    assert switched.is_alive(), "send_directly returned before the queued message was sent"
    engine.release.set()
    switched.join(10)
    wrapped.Log(log(DEBUG, "d1"))
    assert engine.sent == ["d0", "d1"]
    assert engine.threads[1] == threading.get_ident() != engine.threads[0]


def test_every_other_engine_call_is_the_clients_own():
    wrapped = EngineLog(HeldEngine(), DEBUG)
    assert wrapped.GetRootResource(None) == "root"


# --- a program against a stand-in engine, with and without the speedups ---------------------------

PROGRAM = """
import pulumi

class Pair(pulumi.ComponentResource):
    def __init__(self, name, size, after, opts=None):
        super().__init__("test:index:Pair", name, None, opts)
        pulumi.log.debug(f"declaring {name}")
        token = pulumi.Output.secret(f"token-{name}")
        self.left = pulumi.CustomResource("test:index:Thing", f"{name}-left", {"size": size, "token": token},
                                          pulumi.ResourceOptions(parent=self, depends_on=after))
        label = self.left.id.apply(lambda i: f"{i}/{size}")
        self.left.id.apply(pulumi.log.debug)  # the program's own message, sent from the SDK's apply
        self.right = pulumi.CustomResource("test:index:Thing", f"{name}-right",
                                           {"label": label, "token": token, "sizes": [size, size + 1]},
                                           pulumi.ResourceOptions(parent=self))
        self.summary = pulumi.Output.all(self.left.id, self.right.id, token).apply(lambda v: "|".join(v))
        self.register_outputs({"summary": self.summary})

after = []
pairs = []
for i in range(PAIRS):
    pair = Pair(f"pair-{i}", i, after[-2:])
    pairs.append(pair)
    after.append(pair.right)
pulumi.export("summaries", [p.summary for p in pairs])
pulumi.export("lastLabel", pairs[-1].right.id.apply(lambda i: i.upper()))
if FAIL:
    pulumi.export("broken", pairs[0].left.id.apply(lambda i: 1 / 0))
"""


class StandInEngine(resource_pb2_grpc.ResourceMonitorServicer, engine_pb2_grpc.EngineServicer):
    """Monitor and engine in one: records every registration and log message; a registration
    answers with its inputs as outputs. With hold_debug, debug messages are answered only once
    `expected` resources have registered."""

    def __init__(self, expected: int = 0, hold_debug: bool = False, hold_seconds: float = 30):
        self.lock = threading.Lock()
        self.registered: list[dict] = []
        self.outputs: list[dict] = []
        self.logs: list[tuple[int, str, str]] = []
        self.events: list[str] = []
        self.all_registered = threading.Event()
        self.expected = expected
        self.hold_debug = hold_debug
        self.hold_seconds = hold_seconds
        self.root = ""

    # ResourceMonitor
    def SupportsFeature(self, request, context):  # noqa: N802
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in ("secrets", "resourceReferences"))

    def RegisterResource(self, request, context):  # noqa: N802
        record = {
            "type": request.type, "name": request.name, "parent": request.parent, "custom": request.custom,
            "dependencies": sorted(request.dependencies),
            "propertyDependencies": {k: sorted(v.urns) for k, v in request.propertyDependencies.items()},
            "inputs": MessageToDict(request.object),
        }
        with self.lock:
            self.registered.append(record)
            self.events.append("registered")
            if len([r for r in self.registered if r["custom"]]) >= self.expected:
                self.all_registered.set()
        urn = f"urn:pulumi:s::p::{request.type}::{request.name}"
        return resource_pb2.RegisterResourceResponse(urn=urn, id=request.name if request.custom else "",
                                                     object=request.object)

    def SignalAndWaitForShutdown(self, request, context):  # noqa: N802 - an older engine, as the SDK allows
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this stand-in")

    def GetDeploymentInfo(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this stand-in")

    def stack_outputs(self) -> dict:
        return next(o["outputs"] for o in self.outputs if "pulumi:pulumi:Stack" in o["urn"])

    def RegisterResourceOutputs(self, request, context):  # noqa: N802
        with self.lock:
            self.outputs.append({"urn": request.urn, "outputs": MessageToDict(request.outputs)})
        return empty_pb2.Empty()

    # Engine
    def Log(self, request, context):  # noqa: N802
        if self.hold_debug and request.severity == DEBUG and not self.all_registered.wait(self.hold_seconds):
            self.all_registered.set()  # held long enough: the registrations are waiting for it
        with self.lock:
            self.logs.append((request.severity, request.message, request.urn))
            self.events.append(f"log {request.severity}")
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request, context):  # noqa: N802
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


def run_against(engine: StandInEngine, program_dir: Path, speedups: str,
                env: "dict[str, str] | None" = None) -> subprocess.CompletedProcess:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(engine, server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        return subprocess.run(
            [sys.executable, str(RUNNER), "--monitor", address, "--engine", address, "--project", "p", "--stack", "s",
             "--parallel", "8", str(program_dir)],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, SWITCH: speedups, SDK_DEBUG_SWITCH: "off", **(env or {})},
        )
    finally:
        server.stop(None)


def run_source(directory: Path, source: str, speedups: str, engine: "StandInEngine | None" = None) -> StandInEngine:
    """SOURCE run as the program's __main__.py against ENGINE (a plain stand-in by default); the
    run must succeed. Returns the engine, with what it recorded."""
    (directory / "__main__.py").write_text(source)
    engine = engine or StandInEngine()
    run = run_against(engine, directory, speedups)
    assert run.returncode == 0, run.stderr
    return engine


def write_program(directory: Path, pairs: int, fail: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__main__.py").write_text(f"PAIRS = {pairs}\nFAIL = {fail}\n" + PROGRAM)
    return directory


def canonical(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def test_the_engine_receives_the_same_resources_outputs_and_logs_with_and_without_speedups(tmp_path):
    program = write_program(tmp_path / "program", pairs=30)
    seen = {}
    for speedups in ("on", "off"):
        engine = StandInEngine()
        run = run_against(engine, program, speedups)
        assert run.returncode == 0, run.stderr
        seen[speedups] = engine
    on, off = seen["on"], seen["off"]
    assert len([r for r in on.registered if r["custom"]]) == 60
    assert canonical(on.registered) == canonical(off.registered)
    assert canonical(on.outputs) == canonical(off.outputs)
    stack = on.stack_outputs()
    assert stack["lastLabel"] == "PAIR-29-RIGHT"
    # The tokens stay secrets in the outputs the engine gets.
    sig_key, secret = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
    assert [s[sig_key] for s in stack["summaries"]] == [secret] * 30
    assert stack["summaries"][29]["value"] == "pair-29-left|pair-29-right|token-pair-29"
    # The program's own debug messages arrive; of the SDK's own lines only those with the speedups
    # off, or with NOVALAB_SDK_DEBUG_LOGS=on.
    own = {(DEBUG, message, "") for i in range(30) for message in (f"declaring pair-{i}", f"pair-{i}-left")}
    assert own <= set(on.logs) and own <= set(off.logs)
    assert set(on.logs) == own
    assert any(message.startswith("registering resource: ") for _, message, _ in off.logs)


def test_with_sdk_debug_logs_on_the_engine_gets_every_message_it_gets_without_speedups(tmp_path):
    program = write_program(tmp_path / "program", pairs=5)
    seen = {}
    for speedups, sdk_debug in (("on", "on"), ("off", "off")):
        engine = StandInEngine()
        run = run_against(engine, program, speedups, {SDK_DEBUG_SWITCH: sdk_debug})
        assert run.returncode == 0, run.stderr
        seen[speedups] = engine
    # Every distinct message arrives (the SDK's own bookkeeping lines may repeat a different number
    # of times, as its wait loop turns).
    assert set(seen["on"].logs) == set(seen["off"].logs)
    assert any(m.startswith("registering resource: ") for _, m, _ in seen["on"].logs)


def test_a_failing_output_fails_the_run_with_the_same_error(tmp_path):
    program = write_program(tmp_path / "program", pairs=3, fail=True)
    errors = {}
    for speedups in ("on", "off"):
        engine = StandInEngine()
        run = run_against(engine, program, speedups)
        assert run.returncode == 32, run.stderr  # reported to the engine, as without the speedups
        errors[speedups] = [m for severity, m, _ in engine.logs if severity == ERROR]
    assert len(errors["on"]) == len(errors["off"]) == 1
    assert "ZeroDivisionError: division by zero" in errors["on"][0]
    assert errors["on"][0].splitlines()[-1] == errors["off"][0].splitlines()[-1]


def test_registrations_go_on_while_the_engine_holds_a_debug_message(tmp_path):
    """The engine answers no debug message until every resource has registered: the program gets
    there only because its debug messages no longer wait for an answer."""
    program = write_program(tmp_path / "program", pairs=10)
    engine = StandInEngine(expected=20, hold_debug=True)
    run = run_against(engine, program, "on")
    assert run.returncode == 0, run.stderr
    first_debug = engine.events.index(f"log {DEBUG}")
    assert engine.events[:first_debug].count("registered") >= 20 + 10  # every Thing and every Pair


ASYNC_MAIN = """
import asyncio
import pulumi

ready = asyncio.get_event_loop().create_future()
thing = pulumi.CustomResource("test:index:Thing", "thing", {"size": pulumi.Output.from_input(ready)})
pulumi.export("size", thing.id.apply(lambda i: i))

async def main():
    ready.set_result(3)  # what the module's outputs wait for happens only once main runs
    return {"fromMain": "yes"}

pulumi.run(main)
"""


@pytest.mark.parametrize("speedups", ["on", "off"])
def test_a_program_whose_outputs_wait_for_its_async_main_completes(tmp_path, speedups):
    engine = run_source(tmp_path, ASYNC_MAIN, speedups)
    assert [r["inputs"] for r in engine.registered if r["name"] == "thing"] == [{"size": 3}]
    stack = engine.stack_outputs()
    assert stack == {"size": "thing", "fromMain": "yes"}


def test_when_the_sdk_does_the_waiting_its_debug_messages_block_again(tmp_path):
    """With pulumi.run(main) settle leaves the outputs to the SDK's wait, which turns once per
    completion: there the SDK sends its debug messages itself again, each waiting for the engine."""
    source = ASYNC_MAIN.replace(
        'thing = pulumi.CustomResource("test:index:Thing", "thing", {"size": pulumi.Output.from_input(ready)})',
        'thing = pulumi.CustomResource("test:index:Thing", "thing", {"size": pulumi.Output.from_input(ready)})\n'
        'late = thing.id.apply(lambda i: [pulumi.CustomResource("test:index:Thing", f"late-{n}", {}) for n in range(3)])',
    )
    engine = run_source(tmp_path, source, "on", StandInEngine(expected=4, hold_debug=True, hold_seconds=3))
    # The late registrations come after main; one of their debug messages was held, and they waited.
    last_registration = max(i for i, e in enumerate(engine.events) if e == "registered")
    assert f"log {DEBUG}" in engine.events[:last_registration]


GC_PROBE = """
import gc
import pulumi
pulumi.export("gc", {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()})
"""


@pytest.mark.parametrize("speedups", ["on", "off"])
def test_the_program_runs_with_the_tuned_collector_only_when_speedups_are_on(tmp_path, speedups):
    seen = run_source(tmp_path, GC_PROBE, speedups).stack_outputs()["gc"]
    if speedups == "on":
        assert seen["thresholds"] == list(GC_THRESHOLDS)
        assert seen["frozen"] > 10_000  # the SDK, imported before the program, is left alone
    else:
        assert seen == {"thresholds": list(gc.get_threshold()), "frozen": 0}
