"""`make bench` keeps working: every benchmark runs end to end in its quick form (tiny call counts,
real services, Envoy and PostgreSQL) and measures every row it names. Figures are not checked
here; the benchmark's own runs on a quiet machine are for that."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.__main__ import BENCHMARK_MODULES
from tests.support.services import REPO

# Each benchmark's rows: (name, via) pairs that must each have been measured at least once.
EXPECTED = {
    "progress": [("GetProgramProgress", "envoy"), ("MarkSessionComplete", "grpc-asyncpg-floor")],
    "program": [("GenerateProgram", "in-process"), ("GenerateProgram", "envoy")],
    "feedback": [
        ("MarkSessionCompleteReference", "envoy"),
        ("SubmitWorkoutFeedback", "envoy"),
        ("SubmitWorkoutFeedback", "direct"),
        ("SubmitWorkoutFeedback", "grpc-asyncpg-floor"),
        ("SubmitWorkoutFeedbackToLogCompleted", "envoy"),
        ("PerformCheckIn", "envoy"),
    ],
    "data": [("GetTrainingAnalytics", "envoy"), ("ExportMyDataCsv", "envoy")],
}
ROW = re.compile(r"^\s+(\w+)\s+(\S+)\s+c(\d+)\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms\s+([\d.]+) req/s", re.M)


def test_every_benchmark_runs_in_its_quick_form():
    names = [module.removeprefix("bench.") for module in BENCHMARK_MODULES]
    assert sorted(EXPECTED) == sorted(names)
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],  # --quick writes no files
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    measured = {(m[1], m[2]): float(m[6]) for m in ROW.finditer(run.stdout)}
    for name in names:
        assert f"{name} benchmark took" in run.stdout, f"the {name} benchmark did not finish"
        for row in EXPECTED[name]:
            assert measured.get(row, 0) > 0, f"{row} was not measured:\n{run.stdout[-3000:]}"
