"""The pieces of `make run` and `make token` that need no processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import pytest

from deploy.local import mint_token
from deploy.local.postgres import find_postgres, urls_on_server
from deploy.local.supervisor import instance_ports, ports_in_use
from ironpath_common.auth import UserTokenVerifier
from ironpath_common.settings import AuthSettings

REPO = Path(__file__).resolve().parents[2]


def test_each_service_gets_its_own_database_on_a_server_url() -> None:
    assert urls_on_server("postgresql+asyncpg://app:s%40cret@db.internal:6432/") == {
        "program": "postgresql+asyncpg://app:s%40cret@db.internal:6432/ironpath_program",
        "progress": "postgresql+asyncpg://app:s%40cret@db.internal:6432/ironpath_progress",
        "feedback": "postgresql+asyncpg://app:s%40cret@db.internal:6432/ironpath_feedback",
    }


def test_a_unix_socket_server_url_keeps_its_socket_folder_readable() -> None:
    urls = urls_on_server("postgresql+asyncpg://postgres@/postgres?host=/srv/pg")
    assert urls["progress"] == "postgresql+asyncpg://postgres@/ironpath_progress?host=/srv/pg"


def test_per_service_urls_win_over_the_server_url_and_nothing_is_probed(tmp_path: Path) -> None:
    env = {
        "IRONPATH_DATABASE_URL": "postgresql+asyncpg://postgres@db:5432/",
        "IRONPATH_FEEDBACK_DATABASE_URL": "postgresql+asyncpg://postgres@other:5432/fb",
    }
    databases = find_postgres(env, tmp_path / "unused")
    assert databases.embedded is None
    assert databases.urls == {
        "program": "postgresql+asyncpg://postgres@db:5432/ironpath_program",
        "progress": "postgresql+asyncpg://postgres@db:5432/ironpath_progress",
        "feedback": "postgresql+asyncpg://postgres@other:5432/fb",
    }
    assert not (tmp_path / "unused").exists()


def test_replicas_listen_ten_ports_apart() -> None:
    assert instance_ports(50051, 3) == [50051, 50061, 50071]
    assert instance_ports(50052, 1) == [50052]


def test_a_port_someone_listens_on_is_reported_busy() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy_port = held.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        assert ports_in_use({busy_port: "127.0.0.1", free_port: "127.0.0.1"}) == [f"127.0.0.1:{busy_port}"]


def test_a_dev_user_is_the_same_uuid_on_every_run_and_differs_between_names() -> None:
    alice = mint_token.dev_user_id("alice")
    assert alice == mint_token.dev_user_id("alice")
    assert uuid.UUID(alice).version == 5
    assert alice != mint_token.dev_user_id("bob")


async def test_a_dev_token_is_accepted_by_the_services_verifier_in_development() -> None:
    env = {"IRONPATH_ENV": "development"}
    token = mint_token.mint_dev_token("alice", env)
    user = await UserTokenVerifier(AuthSettings.from_env(env)).verify(token)
    assert user.user_id == mint_token.dev_user_id("alice")
    assert user.email == "alice@example.com"


def test_no_dev_token_outside_development(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRONPATH_ENV", "production")
    monkeypatch.setenv("IRONPATH_JWT_ISSUER", "https://example.supabase.co/auth/v1")
    monkeypatch.setenv("IRONPATH_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("IRONPATH_SERVICE_TOKEN_SECRET", "y" * 40)
    assert mint_token.main(["alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "IRONPATH_ENV=production" in captured.err


def _make_token(*args: str) -> dict[str, object]:
    # -o: a test never rebuilds the venv or gen/ (other tests may be using them).
    keep = ["-o", ".venv/.installed", "-o", "gen/.stamp"]
    result = subprocess.run(
        ["make", "-s", "-C", str(REPO), *keep, "token", f"PY={sys.executable}", *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "USER": "shell-user", "HOME": str(Path.home())},
    )
    claims: dict[str, object] = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    return claims


def test_make_token_names_the_user_given_on_the_command_line_else_developer() -> None:
    assert _make_token("USER=alice")["sub"] == mint_token.dev_user_id("alice")
    # The shell's own $USER is not a choice the caller made.
    assert _make_token()["email"] == "developer@example.com"
