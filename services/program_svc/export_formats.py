"""The data export's two file formats, written piece by piece so an export of years of training
streams in bounded memory.

JSON: one document
`{"exported_at", "user", "profile", "programs", "progress_logs", "workout_feedback", "check_ins",
"readiness_checks"}`; the rows other services export arrive as JSON objects and are spliced in
as they are. Strong CSV: one row per performed set under Strong's header, so the history can be
imported by apps that read Strong's export.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from google.protobuf import json_format

from ironpath.common.v1 import training_pb2
from ironpath_common.errors import DomainError
from ironpath_training.exercises import CATALOGUE
from program_svc.domain import Account, Program, StoredProfile

JSON = "json"
STRONG_CSV = "strong_csv"
CONTENT_TYPES = {JSON: "application/json", STRONG_CSV: "text/csv; charset=utf-8"}
FILE_NAMES = {JSON: "ironpath-export-{day}.json", STRONG_CSV: "ironpath-strong-{day}.csv"}

# The arrays of the JSON document, in the order they are written.
SECTIONS = ("programs", "progress_logs", "workout_feedback", "check_ins", "readiness_checks")

STRONG_HEADER = (
    "Date",
    "Workout Name",
    "Duration",
    "Exercise Name",
    "Set Order",
    "Weight",
    "Reps",
    "Distance",
    "Seconds",
    "Notes",
    "Workout Notes",
    "RPE",
)
KG_PER_LB = 0.45359237
# A message of the export stream carries about this much.
CHUNK_BYTES = 64 * 1024


class ExportError(DomainError):
    """Another service sent rows the export cannot place (a contract mismatch, not the caller's fault)."""


def file_name(export_format: str, exported_at: datetime) -> str:
    return FILE_NAMES[export_format].format(day=exported_at.strftime("%Y%m%d"))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def message_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def user_json(account: Account) -> dict[str, Any]:
    return {"user_id": account.user_id, "email": account.email, "created_at": account.created_at.isoformat()}


def profile_json(stored: StoredProfile | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    return {
        **dataclasses.asdict(stored.profile),
        "version": stored.version,
        "updated_at": stored.updated_at.isoformat(),
    }


def program_json(program: Program, sessions: Iterable[bytes]) -> dict[str, Any]:
    """A program with its generation metadata and every planned session, readable."""
    return {
        "program_id": program.program_id,
        "name": program.name,
        "methodology_id": program.methodology_id,
        "goal": program.goal,
        "weeks": program.weeks,
        "days_per_week": program.days_per_week,
        "start_date": program.start_date.isoformat() if program.start_date else None,
        "unit": program.unit,
        "state": program.state,
        "focus_areas": list(program.focus_areas),
        "week_phases": program.week_phases,
        "generation_metadata": program.metadata,
        "version": program.version,
        "created_at": program.created_at.isoformat(),
        "updated_at": program.updated_at.isoformat(),
        "sessions": [message_json(training_pb2.PlannedSession.FromString(data)) for data in sessions],
    }


class JsonDocument:
    """Writes the export document in order: the head, then each section's items. Items of a
    section must come together, and sections in SECTIONS order; a section never given is
    written empty."""

    def __init__(self) -> None:
        self._section = -1  # index in SECTIONS of the open array; -1 before the first
        self._first_item = True

    def head(self, exported_at: datetime, user: Mapping[str, Any], profile: Mapping[str, Any] | None) -> str:
        return (
            f'{{"exported_at": {_dumps(exported_at.isoformat())}, "user": {_dumps(user)}, "profile": {_dumps(profile)}'
        )

    def item(self, section: str, record_json: str) -> str:
        """One item, already JSON (a row another service exported, or `dumps` of our own)."""
        opening = self._open(section)
        separator = "" if self._first_item else ", "
        self._first_item = False
        return opening + separator + record_json

    def end(self) -> str:
        """Closes the open array, writes every section not given as empty, closes the document."""
        return self._close_through(len(SECTIONS)) + "}"

    def _open(self, section: str) -> str:
        try:
            index = SECTIONS.index(section)
        except ValueError:
            raise ExportError(f"export: rows of an unknown table {section!r}") from None
        if index == self._section:
            return ""
        if index < self._section:
            raise ExportError(f"export: rows of {section!r} arrived after that section was closed")
        opening = self._close_through(index) + f", {_dumps(section)}: ["
        self._section, self._first_item = index, True
        return opening

    def _close_through(self, index: int) -> str:
        """Closes the open array and writes the sections before `index` that were never given."""
        parts = ["]" if self._section >= 0 else ""]
        parts += [f", {_dumps(name)}: []" for name in SECTIONS[self._section + 1 : index]]
        self._section = index - 1
        return "".join(parts)


def session_key(record: Mapping[str, Any]) -> tuple[str, int, int]:
    return (str(record["program_id"]), int(record["week_number"]), int(record["day_number"]))


def workout_notes(feedback_rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int, int], str]:
    """The lifter's feedback notes by session (several feedbacks on one session: all their notes)."""
    notes: dict[tuple[str, int, int], list[str]] = {}
    for row in feedback_rows:
        text = (row.get("notes") or "").strip()
        if text:
            found = notes.setdefault(session_key(row), [])
            if text not in found:
                found.append(text)
    return {key: "; ".join(texts) for key, texts in notes.items()}


def _number(value: float) -> str:
    return str(float(round(value, 2)))


class StrongCsv:
    """Strong's export shape: one row per performed set of a completed session. Weight is in the
    lifter's unit; Workout Name is the session's title; Exercise Name comes from the catalogue;
    Workout Notes are the log's own notes (imported from the old app) and the lifter's feedback
    notes on that session. IronPath records no session
    duration, distance, time or per-set notes: Duration and Notes are empty, Distance and Seconds 0,
    as Strong writes them for a weight exercise."""

    def __init__(self, unit: str, notes: Mapping[tuple[str, int, int], str]) -> None:
        self._per_kg = 1 / KG_PER_LB if unit == "lb" else 1.0
        self._notes = notes
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def header(self) -> str:
        self._writer.writerow(STRONG_HEADER)
        return self._take()

    def rows(self, log: Mapping[str, Any]) -> str:
        """The rows of one exported progress log (nothing unless completed with sets)."""
        if log.get("status") != "completed" or not log.get("completed_at"):
            return ""
        completed = datetime.fromisoformat(log["completed_at"]).strftime("%Y-%m-%d %H:%M:%S")
        names = _planned_names(log)
        own = (log.get("notes") or "").strip()
        notes = "; ".join(dict.fromkeys(n for n in (own, self._notes.get(session_key(log), "")) if n))
        for performed in log.get("performed_sets") or ():
            exercise_id = performed.get("exercise_id", "")
            known = CATALOGUE.get(exercise_id)
            rpe = performed.get("actual_rpe")
            self._writer.writerow(
                (
                    completed,
                    log.get("title", ""),
                    "",
                    known.name if known is not None else names.get(exercise_id, exercise_id),
                    performed.get("set_number", 0),
                    _number(float(performed.get("actual_load_kg", 0.0)) * self._per_kg),
                    performed.get("actual_reps", 0),
                    0,
                    0,
                    "",
                    notes,
                    _number(float(rpe)) if rpe is not None else "",
                )
            )
        return self._take()

    def _take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def _planned_names(log: Mapping[str, Any]) -> dict[str, str]:
    """Exercise names the session's prescriptions carry (for an exercise not in the catalogue)."""
    names: dict[str, str] = {}
    for key in ("planned_session", "adjusted_session"):
        for exercise in (log.get(key) or {}).get("exercises") or ():
            if exercise.get("name"):
                names[exercise["exercise_id"]] = exercise["name"]
    return names


class Chunker:
    """Collects text and hands it out as UTF-8 chunks of about `size` bytes."""

    def __init__(self, size: int = CHUNK_BYTES) -> None:
        self._size = size
        self._parts: list[bytes] = []
        self._length = 0

    def add(self, text: str) -> list[bytes]:
        if text:
            data = text.encode()
            self._parts.append(data)
            self._length += len(data)
        if self._length >= self._size:
            return self.flush()
        return []

    def flush(self) -> list[bytes]:
        if not self._parts:
            return []
        data = b"".join(self._parts)
        self._parts, self._length = [], 0
        return [data]
