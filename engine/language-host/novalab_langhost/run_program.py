"""Runs one Pulumi Python program; started by the language host with the program's own Python.

This file runs inside the program's virtualenv (it imports only the stdlib and the `pulumi` SDK the
program has installed). The host passes the engine's settings as arguments and the stack config on
the pipe --config-fd names, never in the environment: PULUMI_CONFIG holds every decrypted secret, and
every process the program starts would inherit it. Started without --config-fd (by hand, or by a
host that sets PULUMI_CONFIG as Pulumi's own does), the program reads the variables and removes them
before anything else runs.

Exit codes: 0 ok; 32 the error was already reported to the engine (the host answers bail, so the
CLI does not print a second "exited with code 1" line); anything else is a crash the host reports.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import runpy
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

from reparent import when_reparented  # beside this file (sys.path[0] until the program's turn)
from sdk_speedups import install_engine_log, settle, tune_gc  # beside this file too

ALREADY_REPORTED = 32
MAX_PARALLEL = 256
MONITOR_GONE = "Resource monitor has terminated, shutting down"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="run_program", description="run a Pulumi Python program")
    ap.add_argument("--monitor", required=True)
    ap.add_argument("--engine", default=None)
    ap.add_argument("--project", required=True)
    ap.add_argument("--stack", required=True)
    ap.add_argument("--organization", default=None)
    ap.add_argument("--root-directory", default=None)
    ap.add_argument("--parallel", type=int, default=0)
    ap.add_argument("--dry-run", choices=("true", "false"), default="false")
    ap.add_argument("--pwd", default=None)
    ap.add_argument("--config-fd", type=int, default=None)
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    return ap.parse_args(argv)


def executor_threads(parallel: int) -> int:
    """Threads for the SDK's blocking RPCs: four per operation the engine runs at once, capped so
    that an unbounded --parallel (PULUMI_PARALLEL) does not ask for billions."""
    return min(parallel, MAX_PARALLEL) * 4


def read_config(fd: "int | None") -> tuple[dict, list]:
    """The stack config and its secret keys: from the host's pipe, else from the environment, which
    then no longer holds them (the SDK's config module reads them from there)."""
    import json

    import pulumi.runtime

    if fd is not None:
        with os.fdopen(fd, "rb") as pipe:
            payload = json.loads(pipe.read() or b"{}")
        config, secret_keys = payload.get("config", {}), payload.get("secretKeys", [])
    else:
        config, secret_keys = pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
    for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS"):
        os.environ.pop(name, None)
    return config, secret_keys


def report(message: str) -> None:
    """An error for the user, through the engine (once); stderr if the engine is gone."""
    import pulumi

    try:
        pulumi.log.error(message)
    except Exception:  # noqa: BLE001 - the engine may already have shut down
        print(f"error: {message}", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # End with the host that started us: once it is gone, the engine is too, and the program would
    # wait for it for ever.
    when_reparented(lambda: os._exit(ALREADY_REPORTED))
    try:
        import pulumi
        import pulumi.runtime
    except ImportError as e:
        print(
            f"error: the program's Python ({sys.executable}) has no Pulumi SDK ({e}); "
            "install the project's requirements into its virtualenv (`pulumi install`)",
            file=sys.stderr,
        )
        return 1

    config, secret_keys = read_config(args.config_fd)
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.configure(
        pulumi.runtime.Settings(
            project=args.project,
            stack=args.stack,
            monitor=args.monitor,
            engine=args.engine,
            parallel=args.parallel,
            dry_run=args.dry_run == "true",
            organization=args.organization,
            root_directory=args.root_directory,
        )
    )
    engine_log = install_engine_log()
    if args.pwd:
        os.chdir(args.pwd)
    program = os.path.abspath(args.program)
    # As `python PROGRAM` would: its directory first on sys.path, its args in sys.argv.
    sys.path[0] = program if os.path.isdir(program) else os.path.dirname(program)
    sys.argv = [program, *args.args]

    # A failed deployment leaves futures unobserved on purpose; asyncio's complaints are noise.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK makes each resource monitor call from the loop's default executor, one blocked thread
    # per call in flight: asyncio's default pool (cpus + 4 threads) would cap a run far below the
    # engine's --parallel. Four threads per parallel operation, as Pulumi's own Python host allows.
    if args.parallel > 0:
        loop.set_default_executor(ThreadPoolExecutor(max_workers=executor_threads(args.parallel)))

    tune_gc()  # last before the program: what is imported by now is frozen

    def run_then_settle():
        runpy.run_path(program, run_name="__main__")
        return settle()

    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run_then_settle))
        return 0
    except pulumi.RunError as e:
        # A RunError is the program's own message for the user: no traceback. When the monitor is
        # gone the engine stopped the run and already said why.
        if str(e) != MONITOR_GONE:
            report(str(e))
        return ALREADY_REPORTED
    except Exception:  # noqa: BLE001 - any program bug is shown to the user once, with its traceback
        report("Program failed with an unhandled exception:\n" + traceback.format_exc())
        return ALREADY_REPORTED
    finally:
        if engine_log is not None:
            engine_log.flush()
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
