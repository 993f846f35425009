"""A local HTTP endpoint that answers `generateContent` like the Gemini API, for driving the real
google-genai SDK without a network.

The server runs in daemon threads on 127.0.0.1, records every request (path, headers, JSON body)
and answers with whatever the test last set: a model text, an HTTP error in Gemini's error
format, or a delay longer than the client's deadline.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from program_svc.domain import Plan

HTTP_STATUS_NAMES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]

    def prompt(self) -> str:
        return "".join(part.get("text", "") for content in self.body["contents"] for part in content["parts"])


@dataclass
class _Reply:
    status: int = 200
    text: str = "{}"
    finish_reason: str = "STOP"
    delay_seconds: float = 0.0


class FakeGemini:
    """The Gemini REST API's generateContent, answering from a script the test sets."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._reply = _Reply()
        self._lock = threading.Lock()
        # Set on close: a handler held back to simulate a slow model returns at once.
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake Gemini server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, text: str, finish_reason: str = "STOP") -> None:
        """The model's next answer: `text` as the first candidate's only part."""
        with self._lock:
            self._reply = _Reply(text=text, finish_reason=finish_reason)

    def fail(self, status: int) -> None:
        """The next requests fail with an HTTP error, in the API's error format."""
        with self._lock:
            self._reply = _Reply(status=status)

    def stall(self, seconds: float, text: str = "{}") -> None:
        """The next answer comes only after `seconds` (or when the server closes)."""
        with self._lock:
            self._reply = _Reply(text=text, delay_seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._reply = _Reply()

    def __enter__(self) -> FakeGemini:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-gemini", daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        with self._lock:
            self.requests.append(ReceivedRequest(path, headers, json.loads(raw or b"{}")))
            return self._reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = fake._record(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                if reply.delay_seconds and fake._closing.wait(reply.delay_seconds):
                    return
                body: dict[str, Any]
                if reply.status != 200:
                    status = HTTP_STATUS_NAMES.get(reply.status, "UNKNOWN")
                    body = {"error": {"code": reply.status, "message": f"fake {status}", "status": status}}
                else:
                    body = {
                        "candidates": [
                            {
                                "content": {"role": "model", "parts": [{"text": reply.text}]},
                                "finishReason": reply.finish_reason,
                                "index": 0,
                            }
                        ],
                        "usageMetadata": {
                            "promptTokenCount": 1200,
                            "candidatesTokenCount": 800,
                            "totalTokenCount": 2000,
                        },
                        "modelVersion": self.path.rsplit("/", 1)[-1].split(":", 1)[0],
                        "responseId": "fake-response",
                    }
                payload = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (its deadline passed)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def answer_from(plan: Plan) -> dict[str, Any]:
    """A plan as the model's JSON answer: what the response schema asks for, no loads, no dates."""
    return {
        "weeks": [
            {
                "week_number": week.week_number,
                "phase": week.phase,
                "deload": week.deload,
                "sessions": [
                    {
                        "day_number": session.day_number,
                        "title": session.title,
                        "exercises": [
                            {
                                "exercise_id": exercise.exercise_id,
                                "main_lift": exercise.main_lift,
                                "sets": [
                                    {
                                        "reps": s.reps,
                                        "percent_1rm": s.percent_1rm,
                                        "rpe_target": s.rpe_target,
                                        "amrap": s.amrap,
                                    }
                                    for s in exercise.sets
                                ],
                                "rest_seconds": exercise.rest_seconds,
                                "notes": exercise.notes,
                            }
                            for exercise in session.exercises
                        ],
                    }
                    for session in week.sessions
                ],
            }
            for week in plan.weeks
        ]
    }
