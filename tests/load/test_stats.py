"""What the soak reports: latency percentiles and CPU per order (pure; no I/O but /proc)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from loadgen.check import Verdict
from loadgen.cpu import per_order_report, tree_cpu_s
from loadgen.pgwait import PgSessions
from loadgen.soak import SoakResult
from loadgen.stats import Stats, percentile


def test_percentile_is_the_nearest_rank() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 99) == 99.0
    assert percentile(ordered, 100) == 100.0
    assert percentile(ordered, 0) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_report_gives_each_operation_its_own_percentiles_whatever_the_order() -> None:
    stats = Stats()
    for ms in range(100, 0, -1):  # recorded slowest first
        stats.record("place", "201", float(ms))
    stats.record("cancel", "200", 5.0)
    stats.record("cancel", "409 not_open", 3.0)
    stats.record("place", "ReadTimeout", None)
    stats.record("replace", "500 internal", 40.0)
    lines = {line.split()[0]: line.split() for line in stats.report().splitlines()}
    assert lines["place"][1:5] == ["100", "50.0", "99.0", "100.0"]
    assert lines["cancel"][1:5] == ["2", "3.0", "5.0", "5.0"]
    assert stats.orders_placed == 100
    assert stats.server_errors() == 1


def test_cpu_of_a_process_counts_its_children() -> None:
    """A service's CPU includes its workers': this process's tree includes a child that burns
    half a second, a process that only sleeps has next to none."""
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    burner = subprocess.Popen([sys.executable, "-c", burn + "\ntime.sleep(60)"])
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 60
        while (tree_cpu_s(burner.pid) or 0) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        burned = tree_cpu_s(burner.pid)
        own = tree_cpu_s(os.getpid())
        assert burned is not None and burned >= 0.5
        assert own is not None and own >= burned + time.process_time() - 0.05
        assert (tree_cpu_s(sleeper.pid) or 0) < 0.1
    finally:
        burner.kill()
        sleeper.kill()
        burner.wait()
        sleeper.wait()


def test_cpu_of_a_child_that_ended_still_counts() -> None:
    """A PostgreSQL backend of a connection opened and closed while the soak ran: its CPU
    counts in its parent's tree once the parent reaped it."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         "burn = 'import time\\nend = time.process_time() + 0.5\\n"
         "while time.process_time() < end: pass'\n"
         "subprocess.run([sys.executable, '-c', burn], check=True)\n"
         "print('reaped', flush=True)\n"
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "reaped\n"
        spent = tree_cpu_s(parent.pid)
        assert spent is not None and spent >= 0.5
    finally:
        parent.kill()
        parent.wait()


def test_cpu_per_order_line() -> None:
    assert per_order_report({"client": 0.5, "trading": 2.0}, 1000) == (
        "CPU ms per order: client 0.50, trading 2.00; all 2.50"
    )
    assert per_order_report({}, 10) == "CPU per order: not measured"


def test_postgres_sessions_are_reported_as_the_mean_number_at_once_by_process_and_state() -> None:
    sessions = PgSessions()
    sessions.add(
        [("stocksim-trading-orders", "idle in transaction", 2), ("unnamed", "row lock", 1)]
    )
    sessions.add([("stocksim-trading-orders", "idle in transaction", 1)])
    sessions.add([("stocksim-trading-orders", "working", 1), ("unnamed", "row lock", 1)])
    sessions.add([])
    report = sessions.report()
    assert report.splitlines() == [
        "PostgreSQL sessions at once, mean of 4 samples "
        "(idle in transaction: holding its locks, waiting for its own process):",
        "  stocksim-trading-orders: working 0.25, idle in transaction 0.75",
        "  unnamed: row lock 0.50",
    ]
    assert PgSessions().report() == "PostgreSQL sessions: not sampled"


def test_the_soak_says_what_its_closed_loop_bounds_the_mean_latency_to() -> None:
    stats = Stats()
    stats.started, stats.finished = 100.0, 110.0  # 10 s of trading
    for _ in range(4000):
        stats.record("place", "201", 1.0)
    result = SoakResult(stats, Verdict(), traders=200)
    # 200 traders x 10 s / 4,000 answers: 500 ms each on average, however fast the system.
    assert (
        "closed loop: 200 traders each wait for their answer: 200 x 10.0 s / 4,000 requests "
        "= 500 ms per request on average (Little's law; an upper bound)"
    ) in result.report().splitlines()
    assert SoakResult(stats, Verdict()).closed_loop() == ""
