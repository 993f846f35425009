"""The CLI's pieces without a server: error sentences and exit codes, tables, the progress bar."""

from __future__ import annotations

import io

import grpc

from ironpath.common.v1 import training_pb2 as t
from ironpath_cli.api import AUTH, NOT_FOUND, SERVER_ERROR, UNAVAILABLE, USAGE, explain
from ironpath_cli.main import ProgressBar, main
from ironpath_cli.render import loads_summary, sets_summary, table


class FakeError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()


def test_each_status_becomes_a_sentence_and_its_exit_code() -> None:
    cases = {
        grpc.StatusCode.INVALID_ARGUMENT: USAGE,
        grpc.StatusCode.UNAUTHENTICATED: AUTH,
        grpc.StatusCode.PERMISSION_DENIED: AUTH,
        grpc.StatusCode.NOT_FOUND: NOT_FOUND,
        grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED: UNAVAILABLE,
        grpc.StatusCode.INTERNAL: SERVER_ERROR,
        grpc.StatusCode.UNIMPLEMENTED: SERVER_ERROR,
    }
    for code, exit_code in cases.items():
        error = explain(FakeError(code, "why"), "export your data")
        assert error.exit_code == exit_code, code
        assert str(error).startswith("export your data: ")


def test_an_rpc_the_server_lacks_says_so_plainly() -> None:
    error = explain(FakeError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!"), "export your data")
    assert str(error) == "export your data: this server does not offer that yet"


def test_sets_and_loads_read_like_a_training_log() -> None:
    five = [t.SetPrescription(set_number=i, reps=5, load_kg=100) for i in (1, 2, 3)]
    assert sets_summary(five) == "3x5"
    assert loads_summary(five, t.WEIGHT_UNIT_KG) == "100 kg"
    wave = [
        t.SetPrescription(reps=5, load_kg=100),
        t.SetPrescription(reps=3, load_kg=110),
        t.SetPrescription(reps=1, load_kg=120, amrap=True),
    ]
    assert sets_summary(wave) == "5/3/1+"
    assert loads_summary(wave, t.WEIGHT_UNIT_KG) == "100/110/120 kg"
    assert loads_summary([t.SetPrescription(reps=5, load_kg=102.0582)], t.WEIGHT_UNIT_LB) == "225 lb"


def test_tables_align_numbers_right() -> None:
    text = table(["name", "weeks"], [("a", 4), ("longer", 12)])
    assert text.splitlines() == ["name    weeks", "------  -----", "a           4", "longer     12"]


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    bar = ProgressBar(err, "exporting")
    bar.add(2048)
    bar.done()
    assert err.getvalue().startswith("\rexporting [")
    assert err.getvalue().endswith("2.0 KiB\n")


def test_help_and_a_bad_command_line_never_show_a_traceback() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--help"], stdout=out, stderr=err) == 0
    assert main(["program", "generate", "--weeks", "x"], stdout=out, stderr=err) == USAGE
    assert "Traceback" not in err.getvalue()
