"""What every benchmark shares: the measuring loops, the statistics, the results file and
the RESULTS.md sections.

A benchmark is a module that registers a `Benchmark` (see `bench/__main__.py`); it returns
`Row`s and a Markdown section, and this module merges both into `bench/results.json` and
`bench/RESULTS.md` without touching other benchmarks' rows or sections.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

# Set by `python -m bench --at REV` for the run inside the snapshot.
BENCH_SOURCE_ENV = "IRONPATH_BENCH_SOURCE"

# The floor every ratio in RESULTS.md is taken against.
RATIO_BASE_VIA = "grpc-asyncpg-floor"


@dataclass(frozen=True)
class Plan:
    """How much to measure: sequential calls after a warm-up, then `concurrency` workers for
    `concurrent_seconds` after `concurrent_warmup_seconds`."""

    sequential_calls: int = 2000
    sequential_warmup: int = 200
    concurrency: int = 16
    concurrent_seconds: float = 10.0
    concurrent_warmup_seconds: float = 2.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(sequential_calls=100, sequential_warmup=20, concurrent_seconds=0.8, concurrent_warmup_seconds=0.3)


@dataclass(frozen=True)
class Row:
    """One line of results.json."""

    name: str
    via: str
    concurrency: int
    p50_ms: float
    p99_ms: float
    rps: float


@dataclass
class Samples:
    """Latencies (seconds) of the calls that completed inside the measured window."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def row(self, name: str, via: str, concurrency: int) -> Row:
        if not self.latencies or self.elapsed <= 0:
            raise RuntimeError(f"{name} {via} c{concurrency}: nothing was measured")
        ordered = sorted(self.latencies)
        return Row(
            name=name,
            via=via,
            concurrency=concurrency,
            p50_ms=round(percentile(ordered, 50) * 1000, 3),
            p99_ms=round(percentile(ordered, 99) * 1000, 3),
            rps=round(len(ordered) / self.elapsed, 1),
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# A call under test: `worker` is the worker's index (0 when sequential), `seq` a number unique
# within one measurement, so a call can pick its own lifter or its own session.
Call = Callable[[int, int], Awaitable[object]]


async def measure_sequential(call: Call, calls: int, warmup: int) -> Samples:
    """`warmup` calls, then `calls` calls one after another, each timed."""
    seq = 0
    for _ in range(warmup):
        await call(0, seq)
        seq += 1
    latencies = []
    clock = time.perf_counter
    start = clock()
    for _ in range(calls):
        before = clock()
        await call(0, seq)
        latencies.append(clock() - before)
        seq += 1
    return Samples(latencies, clock() - start)


async def measure_concurrent(call: Call, concurrency: int, seconds: float, warmup_seconds: float) -> Samples:
    """`concurrency` workers calling back to back; only calls that complete inside the window
    after the warm-up count, and requests/s is their number over the window."""
    clock = time.perf_counter
    window = [float("inf"), float("inf")]  # [start, end] of the measured window
    latencies: list[float] = []
    counter = iter(range(1 << 62))

    async def worker(index: int) -> None:
        while True:
            before = clock()
            if before >= window[1]:
                return
            await call(index, next(counter))
            after = clock()
            if window[0] <= after <= window[1]:
                latencies.append(after - before)

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    try:
        await asyncio.sleep(warmup_seconds)
        window[0] = clock()
        window[1] = window[0] + seconds
        await asyncio.sleep(seconds)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return Samples(latencies, seconds)


# ---------------------------------------------------------------------------------------------
# Other work on the machine: the cores are shared with whatever else runs (test suites of other
# checkouts, CI), which would show up as slowness of whatever is being measured.

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_ticks() -> int:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _process_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class CpuMeter:
    """CPU used by the measured processes and by everything else, in cores, over a window.

    `pids()` names the measured processes (client, servers, proxies, database backends);
    where /proc is missing it reports nothing."""

    def __init__(self, pids: Callable[[], Awaitable[Sequence[int]]]) -> None:
        self._pids = pids
        self._start: tuple[float, int, dict[int, int]] | None = None

    @staticmethod
    def available() -> bool:
        return Path("/proc/stat").is_file()

    async def start(self) -> None:
        if not self.available():
            return
        pids = await self._pids()
        self._start = (time.perf_counter(), _machine_busy_ticks(), {p: _process_ticks(p) for p in pids})

    async def stop(self) -> tuple[float, float]:
        """(cores used by the measured processes, cores used by anything else) since start().
        A measured process that appeared meanwhile (a new pool connection) counts whole."""
        if self._start is None:
            return 0.0, 0.0
        began, busy, ticks = self._start
        now_pids = await self._pids()
        seconds = max(time.perf_counter() - began, 1e-6)
        total = (_machine_busy_ticks() - busy) / _TICKS / seconds
        used = sum(_process_ticks(p) - t for p, t in ticks.items())
        used += sum(_process_ticks(p) for p in now_pids if p not in ticks)
        ours = used / _TICKS / seconds
        return ours, max(total - ours, 0.0)

    async def wait_quiet(self, threshold_cores: float, max_wait_seconds: float) -> float:
        """Waits (up to max_wait_seconds) for a second in which other work used at most
        `threshold_cores`; returns what other work used in the last second sampled."""
        deadline = time.perf_counter() + max_wait_seconds
        while True:
            await self.start()
            await asyncio.sleep(1.0)
            foreign = (await self.stop())[1]
            if foreign <= threshold_cores or time.perf_counter() >= deadline:
                return foreign


# ---------------------------------------------------------------------------------------------
# results.json and RESULTS.md


def merge_results(path: Path, rows: Sequence[Row]) -> list[Row]:
    """Replaces rows with the same (name, via, concurrency), keeps every other row; returns all."""
    existing: list[Row] = []
    if path.is_file():
        existing = [Row(**r) for r in json.loads(path.read_text()).get("results", [])]
    fresh = {(r.name, r.via, r.concurrency): r for r in rows}
    merged = [r for r in existing if (r.name, r.via, r.concurrency) not in fresh]
    merged += rows
    path.write_text(json.dumps({"results": [asdict(r) for r in merged]}, indent=2) + "\n")
    return merged


def results_table(rows: Sequence[Row]) -> str:
    """One Markdown table: via / concurrency / p50 / p99 / rps / ratio to the floor's rps."""
    floors = {r.concurrency: r.rps for r in rows if r.via == RATIO_BASE_VIA}
    lines = [
        f"| via | concurrency | p50 ms | p99 ms | requests/s | × {RATIO_BASE_VIA} rps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r.concurrency, _via_order(r.via))):
        floor = floors.get(r.concurrency)
        ratio = f"{r.rps / floor:.2f}" if floor else "–"
        lines.append(f"| {r.via} | {r.concurrency} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rps:,.0f} | {ratio} |")
    return "\n".join(lines)


_VIA_ORDER = ("envoy", "direct", "grpc-asyncpg-floor", "asyncpg-floor")


def _via_order(via: str) -> int:
    return _VIA_ORDER.index(via) if via in _VIA_ORDER else len(_VIA_ORDER)


@dataclass(frozen=True)
class Target:
    """One target from an issue, judged against this run's rows."""

    description: str
    measured: str
    met: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.met else "MISS"


def targets_table(targets: Sequence[Target]) -> str:
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {t.description} | {t.measured} | **{t.verdict}** |" for t in targets]
    return "\n".join(lines)


def find_row(rows: Sequence[Row], name: str, via: str, concurrency: int) -> Row | None:
    for r in rows:
        if (r.name, r.via, r.concurrency) == (name, via, concurrency):
            return r
    return None


# The code a measurement depends on: everything but the results a run itself writes.
CODE_PATHS = ("services", "libs", "gateway", "protos", "bench", ":!bench/results.json", ":!bench/RESULTS.md")


def code_version() -> str:
    """Which code was measured: the snapshot's commit, or the checkout's HEAD and whether the
    code under test had uncommitted changes."""
    source = os.environ.get(BENCH_SOURCE_ENV)
    if source:
        return source
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", *CODE_PATHS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown version (no git)"
    return f"the working tree at {head}" + (" with uncommitted changes" if dirty else "")


def machine_line() -> str:
    cpus = os.cpu_count()
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu_model = f", {match.group(1).strip()}" if match else ""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}; {cpus} CPUs (nproc){cpu_model}; Python {platform.python_version()}; {platform.system()}"


RESULTS_HEADER = """# Benchmark results

Written by `make bench` (`python -m bench`); every figure is also in `results.json`.
Each benchmark owns one section below and rewrites only its own section when it runs.
"""


def write_section(path: Path, benchmark: str, markdown: str) -> None:
    """Replaces (or appends) the benchmark's section of RESULTS.md, keeping the others."""
    begin, end = f"<!-- bench:{benchmark} -->", f"<!-- /bench:{benchmark} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.is_file() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    found = pattern.search(text) is not None
    text = pattern.sub(lambda _: block, text) if found else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n")


# ---------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Options:
    """What the command line asked for, passed to every benchmark."""

    plan: Plan
    only_names: frozenset[str] = frozenset()
    only_vias: frozenset[str] = frozenset()
    # Run one measurement for this long and stop (for a profiler to attach); no files written.
    hold_seconds: float = 0.0

    def wants(self, name: str, via: str) -> bool:
        return (not self.only_names or name in self.only_names) and (not self.only_vias or via in self.only_vias)


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    # The row names this benchmark owns.
    names: Sequence[str]
    # Its RESULTS.md section (Markdown) from every current row of its names in results.json.
    render: Callable[[list[Row]], str]


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[Options], Coroutine[Any, Any, Outcome]]


BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


T = TypeVar("T")


async def until_ok(attempt: Callable[[], Awaitable[T]], what: str, timeout: float = 30.0) -> T:
    """Envoy starts its upstreams unhealthy until their first health check passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await attempt()
        except grpc.aio.AioRpcError as error:
            if time.monotonic() > deadline or error.code() not in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            ):
                raise RuntimeError(f"{what}: {error.code().name} {error.details()}") from error
            await asyncio.sleep(0.2)
