"""Signing in and the token kept between runs.

Two ways in: a development token minted like `make token` (accepted only by a stack running with
IRONPATH_ENV=development), or a Supabase email and password when SUPABASE_URL and
SUPABASE_ANON_KEY are set (the password grant of Supabase Auth; the session's refresh token
renews the access token when it expires). The token is kept in `$XDG_CONFIG_HOME/ironpath/
credentials.json` (else `~/.config/...`), readable by the user alone.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploy.local.mint_token import DEFAULT_TTL_SECONDS, CannotMint, mint_dev_token

SUPABASE_TIMEOUT_SECONDS = 15.0
# Renew this long before the access token expires, so a call never leaves with one about to lapse.
REFRESH_MARGIN_SECONDS = 60


class SignInError(Exception):
    """Signing in failed, or there is no usable token; the message is for the user."""


@dataclass
class Credentials:
    access_token: str
    # Unix time the access token expires.
    expires_at: float
    # `development` or `supabase`.
    source: str
    email: str = ""
    refresh_token: str = ""

    def expired(self, now: float | None = None) -> bool:
        return (now or time.time()) >= self.expires_at - REFRESH_MARGIN_SECONDS


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ironpath"


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "credentials.json"


def save(credentials: Credentials, env: Mapping[str, str] | None = None) -> Path:
    """Writes the file with mode 0600 from the start (never readable by others, not even briefly)."""
    path = credentials_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(credentials), out)
    tmp.chmod(0o600)  # an existing file keeps its mode through O_CREAT
    tmp.replace(path)
    return path


def load(env: Mapping[str, str] | None = None) -> Credentials | None:
    path = credentials_path(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise SignInError(f"{path} is unreadable ({error}); sign in again with `ironpath login`") from None


def forget(env: Mapping[str, str] | None = None) -> bool:
    path = credentials_path(env)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def development(name: str, env: Mapping[str, str] | None = None) -> Credentials:
    """A development token for `name`, as `make token USER=<name>` mints it."""
    try:
        token = mint_dev_token(name, env)
    except CannotMint as error:
        raise SignInError(str(error)) from None
    return Credentials(
        access_token=token,
        expires_at=time.time() + DEFAULT_TTL_SECONDS,
        source="development",
        email=f"{name}@example.com",
    )


@dataclass(frozen=True)
class Supabase:
    url: str
    anon_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Supabase | None:
        env = os.environ if env is None else env
        url, key = env.get("SUPABASE_URL", "").strip(), env.get("SUPABASE_ANON_KEY", "").strip()
        if not url or not key:
            return None
        return cls(url.rstrip("/"), key)

    def sign_in(self, email: str, password: str) -> Credentials:
        return self._grant("password", {"email": email, "password": password})

    def refresh(self, credentials: Credentials) -> Credentials:
        return self._grant("refresh_token", {"refresh_token": credentials.refresh_token})

    def _grant(self, grant_type: str, body: dict[str, str]) -> Credentials:
        query = urllib.parse.urlencode({"grant_type": grant_type})
        request = urllib.request.Request(  # noqa: S310 - the configured Supabase URL
            f"{self.url}/auth/v1/token?{query}",
            data=json.dumps(body).encode("utf-8"),
            method="POST",
            headers={"apikey": self.anon_key, "Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=SUPABASE_TIMEOUT_SECONDS) as response:  # noqa: S310
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise SignInError(f"Supabase refused the sign-in: {_supabase_message(error)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SignInError(f"cannot reach Supabase at {self.url}: {reason}") from None
        except ValueError:
            raise SignInError("Supabase answered with something other than JSON") from None
        return _session(answer)


def _supabase_message(error: urllib.error.HTTPError) -> str:
    try:
        body: dict[str, Any] = json.loads(error.read().decode("utf-8"))
    except (ValueError, OSError):
        return f"HTTP {error.code}"
    for key in ("error_description", "msg", "message", "error"):
        if body.get(key):
            return str(body[key])
    return f"HTTP {error.code}"


def _session(answer: Mapping[str, Any]) -> Credentials:
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise SignInError("Supabase answered without an access token")
    expires_at = answer.get("expires_at") or time.time() + float(answer.get("expires_in") or 3600)
    user = answer.get("user") or {}
    return Credentials(
        access_token=token,
        expires_at=float(expires_at),
        source="supabase",
        email=str(user.get("email") or ""),
        refresh_token=str(answer.get("refresh_token") or ""),
    )


def current(env: Mapping[str, str] | None = None) -> Credentials:
    """The stored token, renewed through Supabase when it has expired and can be."""
    credentials = load(env)
    if credentials is None:
        raise SignInError("not signed in: run `ironpath login`")
    if not credentials.expired():
        return credentials
    supabase = Supabase.from_env(env)
    if credentials.source == "supabase" and credentials.refresh_token and supabase is not None:
        renewed = supabase.refresh(credentials)
        save(renewed, env)
        return renewed
    raise SignInError("the stored token has expired: run `ironpath login` again")
