"""Benchmark: Pulumi state on novalab's PostgreSQL (state/state.sh, Pulumi's `postgres://` backend)
against the local file backend, with the real engine.

1. `pulumi preview` of the novalab program (loopback stack, bench_program's config; no SSH, no cloud
   call), on each backend, alternating, REPEATS times: medians and the ratio (goal <= 1.2x).
2. A no-op `pulumi up` of a stack of STEPS `command:remote:Command`s against a test sshd (the shape
   of a few compute hosts' steps), likewise.
3. Two `up`s of the same stack started together on PostgreSQL, PAIRS times: how long the one that
   loses the lock takes to fail, and how often both lose (Pulumi's DIY lock writes, then checks).
4. The size of one stack's rows in the state table: its checkpoint, and all its rows with history.

    venv/bin/python benchmarks/bench_state.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

REPEATS = 5
STEPS = 30
PAIRS = 20
PREVIEW_SIZES = [(2, 1), (10, 100)]  # (hosts, servers): the lab's size, and a larger cloud


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(runs: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each named run, the runs interleaved so drift hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def preview_program(tmp: Path, pg_url: str, hosts: int, servers: int, repeats: int) -> dict[str, float]:
    import bench_engine
    import bench_program
    from support.engine import Pulumi, copy_novalab

    cfg = bench_engine.loopback(bench_program.bench_config(hosts, servers))
    cfg.update({"openstack:authUrl": "http://127.0.0.1:9/v3", "openstack:userName": "admin",
                "openstack:tenantName": "admin", "openstack:password": "bench-password"})
    secrets = {k: v for k, v in cfg.items() if k.endswith(("Password", "password", "PrivateKey"))}
    plain = {k: v for k, v in cfg.items() if k not in secrets}
    base = tmp / f"preview-{hosts}-{servers}"
    project = copy_novalab(base / "project", plain, "bench")
    (base / "files").mkdir(parents=True)
    on_file = Pulumi(project, base / "files", stack="bench").init()
    on_pg = Pulumi(project, base / "unused", stack="bench", env={"PULUMI_BACKEND_URL": pg_url}).init()
    for key, value in secrets.items():
        on_file.config(key, value, secret=True)

    def preview(p):
        return lambda: p.preview()

    preview(on_file)()  # warm: plugins loaded once, bytecode compiled
    return alternate({"file": preview(on_file), "postgres": preview(on_pg)}, repeats)


def noop_up(tmp: Path, pg_url: str, sshd, repeats: int) -> tuple[dict[str, float], object]:
    from support.statedb import make_stack

    (tmp / "files").mkdir()
    on_file = make_stack(tmp / "noop-file", sshd, f"file://{tmp / 'files'}", name="bench", steps=STEPS)
    on_pg = make_stack(tmp / "noop-pg", sshd, pg_url, name="bench", steps=STEPS)
    on_file.pulumi.up()
    on_pg.pulumi.up()
    times = alternate({"file": lambda: on_file.pulumi.up(), "postgres": lambda: on_pg.pulumi.up()}, repeats)
    return times, on_pg


def concurrent_ups(stack, directory: Path, pairs: int) -> tuple[list[float], int, int]:
    """Seconds from start to failure of each pair's loser; pairs where both lost; pairs where both ran."""
    loser_times, both_lost, both_ran = [], 0, 0
    for i in range(pairs):
        procs, started, ended = {}, {}, {}
        for name in ("a", "b"):
            started[name] = time.monotonic()
            procs[name] = stack.spawn(*stack.up_args(), out=directory / f"pair{i}{name}")
        while len(ended) < 2:
            for name, proc in procs.items():
                if name not in ended and proc.poll() is not None:
                    ended[name] = time.monotonic()
            time.sleep(0.005)
        codes = {name: proc.returncode for name, proc in procs.items()}
        failed = [n for n, rc in codes.items() if rc != 0]
        if len(failed) == 2:
            both_lost += 1
        elif not failed:
            both_ran += 1
        else:
            loser_times.append(ended[failed[0]] - started[failed[0]])
    return loser_times, both_lost, both_ran


def stack_rows(db, project: str, stack: str) -> dict[str, tuple[int, int]]:
    """Rows and bytes of one stack, by kind: the checkpoint (and its .bak), one history entry and
    one checkpoint copy per update, backups."""
    rows = db.sql(
        "SELECT CASE WHEN key ~ '/stacks/' THEN 'checkpoint' WHEN key ~ '\\.history\\.json$' THEN 'history entries'"
        " WHEN key ~ '/history/' THEN 'history checkpoints' ELSE 'backups' END, count(*), sum(octet_length(data::text))"
        f" FROM pulumi_state WHERE key ~ '\\.pulumi/(stacks|history|backups)/{project}/{stack}[./]' GROUP BY 1 ORDER BY 1"
    )
    return {kind: (int(count), int(size)) for kind, count, size in rows}


def main() -> None:
    from support.sshd import running_sshd
    from support.statedb import make_state_db, remove_state_db

    quick = "--quick" in sys.argv
    repeats = 3 if quick else REPEATS
    sizes = PREVIEW_SIZES[:1] if quick else PREVIEW_SIZES
    db = make_state_db()
    try:
        with tempfile.TemporaryDirectory() as tmp_name, running_sshd(Path(tmp_name) / "sshd") as sshd:
            tmp = Path(tmp_name)
            print(f"{'run':<40} {'file s':>7} {'postgres s':>10} {'ratio':>6}")
            for hosts, servers in sizes:
                t = preview_program(tmp, db.url, hosts, servers, repeats)
                label = f"preview novalab, {hosts} hosts {servers} servers"
                print(f"{label:<40} {t['file']:>7.2f} {t['postgres']:>10.2f} {t['postgres'] / t['file']:>6.2f}", flush=True)
            t, stack = noop_up(tmp, db.url, sshd, repeats)
            label = f"no-op up, {STEPS} remote commands"
            print(f"{label:<40} {t['file']:>7.2f} {t['postgres']:>10.2f} {t['postgres'] / t['file']:>6.2f}", flush=True)

            pairs = 5 if quick else PAIRS
            losers, both_lost, both_ran = concurrent_ups(stack, tmp, pairs)
            print(f"\ntwo concurrent no-op ups on postgres, {pairs} pairs:")
            if losers:
                print(f"  the loser failed after: median {statistics.median(losers):.2f} s, max {max(losers):.2f} s")
            print(f"  both lost the lock race: {both_lost} of {pairs}; both ran: {both_ran} of {pairs}")

            kinds = stack_rows(db, "statetest", "bench")
            updates = kinds.get("history entries", (0, 0))[0]
            print(f"\nrows of one stack ({STEPS} remote commands, {updates} updates so far):")
            for kind, (count, size) in kinds.items():
                print(f"  {kind:<20} {count:>4} rows {size:>10} bytes")
            print(f"  {'all':<20} {sum(c for c, _ in kinds.values()):>4} rows {sum(b for _, b in kinds.values()):>10} bytes")
    finally:
        remove_state_db(db)


if __name__ == "__main__":
    main()
