"""The `ironpath` command as a user runs it: a subprocess against the real services behind the real
Envoy, a token kept in its own config folder, a stand-in Supabase for the email sign-in."""

from __future__ import annotations

import csv
import io
import json
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.envoy import EnvoyProcess
from ironpath_common.auth import mint_user_token
from ironpath_common.settings import AuthSettings
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

ANON_KEY = "anon-key-for-tests"
PASSWORD = "correct horse battery staple"


def ironpath_command() -> list[str]:
    """The installed command (`make venv` writes it); the module where it is not installed yet."""
    script = Path(sys.executable).with_name("ironpath")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ironpath_cli"]


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def run(envoy: EnvoyProcess, home: Path, stack_env: dict[str, str]) -> Run:
    def invoke(
        *args: str, stdin: str = "", extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "XDG_CONFIG_HOME": str(home),
            "IRONPATH_GATEWAY": f"127.0.0.1:{envoy.settings.port}",
            # What `make token` reads: the stack's development secret and issuer.
            "IRONPATH_ENV": "development",
            "IRONPATH_JWT_SECRET": stack_env["IRONPATH_JWT_SECRET"],
            **(extra_env or {}),
        }
        result = subprocess.run(
            [*ironpath_command(), *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return invoke


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


@pytest.fixture
def signed_in(run: Run) -> Run:
    ok(run("login", "--dev", f"cli-{uuid.uuid4().hex[:8]}"))
    return run


# ---------------------------------------------------------------------------------------------
# Signing in


def test_the_command_is_installed_in_the_venv() -> None:
    script = Path(sys.executable).with_name("ironpath")
    assert script.is_file(), "make venv installs .venv/bin/ironpath"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "login" in result.stdout


def test_a_development_sign_in_keeps_the_token_readable_by_the_user_alone(run: Run, home: Path) -> None:
    out = ok(run("login", "--dev", "alice"))
    assert "signed in as alice@example.com (development token" in out
    stored = home / "ironpath" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert "alice@example.com" in ok(run("whoami"))
    assert ok(run("logout")).strip() == "signed out"
    refused = run("whoami")
    assert refused.returncode == 3
    assert "not signed in: run `ironpath login`" in refused.stderr


def test_a_token_the_gateway_refuses_is_an_auth_error(run: Run, home: Path) -> None:
    ok(run("login", "--dev", "mallory"))
    stored = home / "ironpath" / "credentials.json"
    data = json.loads(stored.read_text())
    data["access_token"] = data["access_token"][:-4] + "AAAA"
    stored.write_text(json.dumps(data))
    refused = run("whoami")
    assert refused.returncode == 3
    assert "token was refused" in refused.stderr


class FakeSupabase:
    """Supabase Auth's token endpoint: the password grant and the refresh grant, answering with
    tokens the stack accepts (signed with its development secret)."""

    def __init__(self, auth: AuthSettings) -> None:
        self.auth = auth
        self.user_id = str(uuid.uuid4())
        self.requests: list[tuple[str, dict[str, Any], str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body, self.headers.get("apikey", "")))
                status, answer = fake.answer(self.path, body, self.headers.get("apikey", ""))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def session(self) -> dict[str, Any]:
        token = mint_user_token(self.auth, self.user_id, "sam@example.com", ttl_seconds=3600)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "expires_at": int(time.time()) + 3600,
            "refresh_token": "refresh-" + uuid.uuid4().hex,
            "user": {"id": self.user_id, "email": "sam@example.com"},
        }

    def answer(self, path: str, body: dict[str, Any], apikey: str) -> tuple[int, dict[str, Any]]:
        if apikey != ANON_KEY:
            return 401, {"message": "Invalid API key"}
        if path == "/auth/v1/token?grant_type=password":
            if body == {"email": "sam@example.com", "password": PASSWORD}:
                return 200, self.session()
            return 400, {"error": "invalid_grant", "error_description": "Invalid login credentials"}
        if path == "/auth/v1/token?grant_type=refresh_token" and body.get("refresh_token", "").startswith("refresh-"):
            return 200, self.session()
        return 400, {"error": "invalid_grant", "error_description": "Invalid Refresh Token"}

    def __enter__(self) -> FakeSupabase:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def supabase(auth: AuthSettings) -> Iterator[FakeSupabase]:
    with FakeSupabase(auth) as fake:
        yield fake


def test_email_sign_in_through_supabase_gets_a_token_the_stack_accepts(
    run: Run, supabase: FakeSupabase, home: Path
) -> None:
    env = {"SUPABASE_URL": supabase.url, "SUPABASE_ANON_KEY": ANON_KEY}
    out = ok(run("login", "--email", "sam@example.com", "--password-stdin", stdin=PASSWORD + "\n", extra_env=env))
    assert "signed in as sam@example.com (supabase token" in out
    assert supabase.requests[0][0] == "/auth/v1/token?grant_type=password"
    assert PASSWORD not in (home / "ironpath" / "credentials.json").read_text()
    assert supabase.user_id in ok(run("whoami", extra_env=env))


def test_a_wrong_password_is_an_auth_error_with_supabases_reason(run: Run, supabase: FakeSupabase) -> None:
    env = {"SUPABASE_URL": supabase.url, "SUPABASE_ANON_KEY": ANON_KEY}
    refused = run("login", "--email", "sam@example.com", "--password-stdin", stdin="wrong\n", extra_env=env)
    assert refused.returncode == 3
    assert "Supabase refused the sign-in: Invalid login credentials" in refused.stderr


def test_an_expired_supabase_token_is_renewed_with_the_refresh_token(
    run: Run, supabase: FakeSupabase, home: Path
) -> None:
    env = {"SUPABASE_URL": supabase.url, "SUPABASE_ANON_KEY": ANON_KEY}
    ok(run("login", "--email", "sam@example.com", "--password-stdin", stdin=PASSWORD + "\n", extra_env=env))
    stored = home / "ironpath" / "credentials.json"
    data = json.loads(stored.read_text())
    data["expires_at"] = time.time() - 10
    stored.write_text(json.dumps(data))
    assert supabase.user_id in ok(run("whoami", extra_env=env))
    assert supabase.requests[-1][0] == "/auth/v1/token?grant_type=refresh_token"
    assert json.loads(stored.read_text())["expires_at"] > time.time()


def test_an_unreachable_supabase_is_reported_in_a_sentence(run: Run) -> None:
    env = {"SUPABASE_URL": f"http://127.0.0.1:{free_port()}", "SUPABASE_ANON_KEY": ANON_KEY}
    refused = run("login", "--email", "sam@example.com", "--password-stdin", stdin="x\n", extra_env=env)
    assert refused.returncode == 3
    assert "cannot reach Supabase" in refused.stderr


# ---------------------------------------------------------------------------------------------
# A lifter's week


def test_generate_show_complete_feedback_readiness_checkin_and_export(signed_in: Run, tmp_path: Path) -> None:
    run = signed_in
    ok(run("profile", "set", "--unit", "kg", "--bodyweight", "82", "--max", "squat=160", "--max", "bench_press=110"))
    assert "160 kg" in ok(run("profile", "show"))
    methodologies = ok(run("methodologies"))
    assert "wendler_531" in methodologies

    start = date.today() - timedelta(days=3)
    generated = ok(
        run(
            "program", "generate", "--goal", "strength", "--weeks", "4", "--days", "3",
            "--methodology", "wendler_531", "--start-date", start.isoformat(),
        )
    )  # fmt: skip
    header = next(line for line in generated.splitlines() if line.startswith("week"))
    assert header.split() == ["week", "day", "session", "exercise", "sets", "load", "RPE"]
    program = json.loads(ok(run("--json", "program", "show")))["program"]
    assert program["weeks"] == 4 and program["days_per_week"] == 3
    first = program["program_weeks"][0]["sessions"][0]
    assert first["exercises"][0]["name"] in generated
    assert program["program_id"] in ok(run("program", "list"))

    exercise = first["exercises"][0]
    planned = exercise["sets"][0]
    completed = ok(
        run(
            "session", "complete", "1", "1", "--rpe", "8",
            "--set", f"{exercise['exercise_id']}:{planned['reps']}x{planned['load_kg']}@8",
        )
    )  # fmt: skip
    assert "week 1 day 1" in completed and "completed, 1 sets logged" in completed

    feedback = ok(run("feedback", "1", "2", "--as-planned", "--category", "too_hard", "--rpe", "9.5"))
    assert "feedback recorded for week 1 day 2" in feedback

    readiness = ok(
        run(
            "readiness", "--sleep-hours", "5", "--sleep-quality", "2", "--stress", "4",
            "--soreness", "4", "--energy", "2", "--motivation", "3", "--week", "1", "--day", "3",
        )
    )  # fmt: skip
    assert readiness.startswith("readiness ") and "/100" in readiness

    checkin = ok(run("checkin", "--from", start.isoformat(), "--to", date.today().isoformat()))
    assert checkin.startswith(f"check-in {start.isoformat()} to {date.today().isoformat()}")
    assert "completed" in checkin

    exported = tmp_path / "ironpath.json"
    result = run("export", str(exported))
    assert result.returncode == 0, result.stderr
    assert "exporting" in result.stderr  # the progress report (a bar on a terminal)
    assert "saved" in result.stdout and str(exported) in result.stdout
    text = exported.read_text()
    assert program["program_id"] in text
    json.loads(text)
    assert not exported.with_name("ironpath.json.part").exists()

    as_csv = tmp_path / "ironpath.csv"
    ok(run("export", str(as_csv), "--format", "csv"))
    rows = list(csv.reader(io.StringIO(as_csv.read_text())))
    assert len(rows) >= 2  # a header and the set logged above


# ---------------------------------------------------------------------------------------------
# Errors: a sentence and an exit code, never a traceback


def test_a_missing_program_is_not_found(signed_in: Run) -> None:
    missing = signed_in("program", "show", str(uuid.uuid4()))
    assert missing.returncode == 4
    assert missing.stderr.startswith("ironpath: get the program:")


def test_an_argument_the_server_refuses_is_a_usage_error_naming_the_field(signed_in: Run) -> None:
    refused = signed_in("program", "generate", "--goal", "strength", "--weeks", "99", "--days", "3")
    assert refused.returncode == 2
    assert "generate a program:" in refused.stderr
    assert "  weeks:" in refused.stderr


def test_a_bad_command_line_is_a_usage_error(run: Run) -> None:
    result = run("program", "generate", "--goal", "bulk", "--weeks", "4", "--days", "3")
    assert result.returncode == 2
    assert "unknown goal 'bulk'" in result.stderr
    assert run("frobnicate").returncode == 2


def test_a_gateway_that_does_not_answer_is_unavailable(signed_in: Run) -> None:
    down = signed_in("--gateway", f"127.0.0.1:{free_port()}", "whoami")
    assert down.returncode == 5
    assert "unavailable" in down.stderr and "try again" in down.stderr
