"""`python -m bench [BENCHMARK ...]`: run the registered benchmarks (all by default), merge
their rows into bench/results.json and rewrite their sections of bench/RESULTS.md.

    python -m bench                      # everything, full size (what `make bench` runs)
    python -m bench progress             # one benchmark
    python -m bench --quick              # tiny call counts, a smoke check; writes no files
    python -m bench progress --only GetProgramProgress --via envoy --hold 60
                                         # one concurrent load for 60 s, e.g. for py-spy
    python -m bench --at HEAD            # the committed code, not the working tree: runs from a
                                         # `git archive` snapshot with its own gen/, writes here

A new benchmark is a module that calls `bench.core.register(...)` on import, listed in
BENCHMARK_MODULES below.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.core import BENCH_DIR, BENCH_SOURCE_ENV, BENCHMARKS, REPO, Options, Plan, merge_results, write_section

BENCHMARK_MODULES = ("bench.progress", "bench.program", "bench.feedback", "bench.data")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="IronPath benchmarks")
    parser.add_argument("benchmarks", nargs="*", help=f"which to run (default all: {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="tiny call counts (a smoke check); writes no files")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only these row names")
    parser.add_argument("--via", action="append", default=[], metavar="VIA", help="only these vias")
    parser.add_argument(
        "--hold", type=float, default=0.0, metavar="SECONDS", help="only the concurrent load, for this long"
    )
    parser.add_argument("--write", action="store_true", help="write results even with --quick/--only/--via/--hold")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.json and RESULTS.md")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json and RESULTS.md go")
    parser.add_argument("--at", metavar="REV", help="measure this commit (a clean snapshot), not the working tree")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def run_at(rev: str, argv: list[str], out: Path) -> int:
    """Runs this same command in a snapshot of `rev` (its code, protos and generated code), so
    edits in progress in the working tree neither break nor skew the run."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="ironpath-bench-src-") as tmp:
        snapshot = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive.stdout, check=True)
        protos = sorted(str(p.relative_to(snapshot / "protos")) for p in (snapshot / "protos").rglob("*.proto"))
        (snapshot / "gen").mkdir()
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-Iprotos", "--python_out=gen", "--grpc_python_out=gen"]
            + [f"protos/{p}" for p in protos],
            cwd=snapshot,
            check=True,
        )
        paths = [snapshot, snapshot / "libs", snapshot / "services", snapshot / "gen"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), BENCH_SOURCE_ENV: f"commit {sha[:10]}"}
        print(f"measuring commit {sha[:10]} from a snapshot in {snapshot}", flush=True)
        return subprocess.run(
            [sys.executable, "-m", "bench", *argv, "--out", str(out.resolve())], cwd=snapshot, env=env
        ).returncode


def _without_at(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--at":
            skip = True
        elif not arg.startswith("--at="):
            kept.append(arg)
    return kept


def main(argv: list[str]) -> int:
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    args = parse(argv)
    if args.at:
        return run_at(args.at, _without_at(argv), args.out)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("bench").setLevel(logging.INFO)
        # Alembic says what it migrates at INFO; the benchmark's own output is enough.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    options = Options(
        plan=Plan.quick() if args.quick else Plan(),
        only_names=frozenset(args.only),
        only_vias=frozenset(args.via),
        hold_seconds=args.hold,
    )
    partial = args.quick or args.only or args.via or args.hold
    write = not args.no_write and (args.write or not partial)
    for name in args.benchmarks or list(BENCHMARKS):
        benchmark = BENCHMARKS[name]
        print(f"== {name}: {benchmark.description}", flush=True)
        outcome = asyncio.run(benchmark.run(options))
        if not write:
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        merged = merge_results(args.out / "results.json", outcome.rows)
        write_section(args.out / "RESULTS.md", name, outcome.render([r for r in merged if r.name in outcome.names]))
        print(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
