"""The export's file formats without I/O: the JSON document stays valid whatever sections its rows
fill, and the Strong CSV writes one properly quoted row per performed set in the lifter's unit."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from program_svc.export_formats import (
    SECTIONS,
    STRONG_HEADER,
    Chunker,
    ExportError,
    JsonDocument,
    StrongCsv,
    workout_notes,
)

EXPORTED_AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def document(rows: list[tuple[str, str]]) -> dict:
    writer = JsonDocument()
    text = writer.head(EXPORTED_AT, {"user_id": "u"}, None)
    text += "".join(writer.item(section, record) for section, record in rows)
    return json.loads(text + writer.end())


@given(st.lists(st.tuples(st.sampled_from(SECTIONS), st.integers(0, 10**6)), max_size=40))
def test_the_document_is_valid_json_with_every_section_and_every_row_once(items):
    rows = sorted(items, key=lambda item: SECTIONS.index(item[0]))  # sections come in order
    parsed = document([(section, json.dumps({"n": n})) for section, n in rows])
    assert list(parsed) == ["exported_at", "user", "profile", *SECTIONS]
    for section in SECTIONS:
        assert [r["n"] for r in parsed[section]] == [n for s, n in rows if s == section]


def test_rows_of_a_closed_or_unknown_section_are_refused():
    writer = JsonDocument()
    writer.head(EXPORTED_AT, {}, None)
    writer.item("check_ins", "{}")
    with pytest.raises(ExportError):
        writer.item("programs", "{}")
    with pytest.raises(ExportError):
        writer.item("secrets", "{}")


def log(**fields) -> dict:
    return {
        "program_id": "p",
        "week_number": 1,
        "day_number": 1,
        "title": "Week 1 Day 1: Bench",
        "status": "completed",
        "completed_at": "2026-11-02T18:30:00+00:00",
        "planned_session": {"exercises": [{"exercise_id": "my_press", "name": "My Odd Press"}]},
        "performed_sets": [
            {"exercise_id": "bench_press", "set_number": 1, "actual_load_kg": 102.05828325, "actual_reps": 5},
            {
                "exercise_id": "bench_press",
                "set_number": 2,
                "actual_load_kg": 102.05828325,
                "actual_reps": 4,
                "actual_rpe": 9.5,
            },
            {"exercise_id": "my_press", "set_number": 1, "actual_load_kg": 20, "actual_reps": 12},
        ],
        **fields,
    }


def test_strong_rows_are_one_per_set_in_the_lifters_unit_with_the_catalogue_name_and_quoted_notes():
    notes = workout_notes([{"program_id": "p", "week_number": 1, "day_number": 1, "notes": 'slow, "ugly"'}])
    writer = StrongCsv("lb", notes)
    text = writer.header() + writer.rows(log())
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == STRONG_HEADER
    assert rows[0] == [
        "2026-11-02 18:30:00",
        "Week 1 Day 1: Bench",
        "",
        "Bench Press",
        "1",
        "225.0",
        "5",
        "0",
        "0",
        "",
        'slow, "ugly"',
        "",
    ]
    assert rows[1][5:7] == ["225.0", "4"] and rows[1][11] == "9.5"
    assert rows[2][3] == "My Odd Press" and rows[2][5] == "44.09"  # not in the catalogue: the plan's name
    assert '"slow, ""ugly"""' in text


def test_sessions_not_completed_give_no_rows_and_kilograms_stay_kilograms():
    writer = StrongCsv("kg", {})
    assert writer.rows(log(status="skipped")) == ""
    assert writer.rows(log(status="planned", completed_at=None)) == ""
    [row] = list(csv.reader(io.StringIO(writer.rows(log(performed_sets=[log()["performed_sets"][0]])))))
    assert row[5] == "102.06" and row[10] == ""


def test_a_logs_own_notes_come_first_in_the_workout_notes():
    writer = StrongCsv("kg", {("p", 1, 1): "from feedback"})
    [row, *_] = list(csv.reader(io.StringIO(writer.rows(log(notes="imported note")))))
    assert row[10] == "imported note; from feedback"
    [row, *_] = list(csv.reader(io.StringIO(StrongCsv("kg", {}).rows(log(notes="only mine")))))
    assert row[10] == "only mine"


def test_several_feedbacks_on_one_session_join_their_notes():
    rows = [
        {"program_id": "p", "week_number": 1, "day_number": 1, "notes": "first"},
        {"program_id": "p", "week_number": 1, "day_number": 1, "notes": ""},
        {"program_id": "p", "week_number": 1, "day_number": 1, "notes": "second"},
    ]
    assert workout_notes(rows) == {("p", 1, 1): "first; second"}


def test_the_chunker_hands_out_bounded_pieces_that_join_to_the_whole():
    chunker = Chunker(size=10)
    pieces = ["abc", "défg", "hijklmnop", "", "q"]
    out = [chunk for piece in pieces for chunk in chunker.add(piece)] + chunker.flush()
    assert b"".join(out).decode() == "".join(pieces)
    assert all(len(chunk) < 10 + len(b"hijklmnop") for chunk in out)
    assert chunker.flush() == []
