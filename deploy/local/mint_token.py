"""A development user token: `python -m deploy.local.mint_token alice` (what `make token USER=alice` runs).

The token is Supabase-shaped and signed with the development HS256 secret (or
`IRONPATH_JWT_SECRET` when set), so Envoy and the services accept it only where
they run with `IRONPATH_ENV=development`. The user id is a UUIDv5 of the name:
the same name is the same lifter on every run, so data made with one token is
found again with the next.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Mapping, Sequence

from ironpath_common.auth import mint_user_token
from ironpath_common.settings import DEVELOPMENT, AuthSettings, ConfigError

DEFAULT_USER = "developer"
DEFAULT_TTL_SECONDS = 24 * 3600
# Fixed namespace, so a name maps to the same user id on every machine.
DEV_USER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ironpath:development-users")


class CannotMint(Exception):
    """No development token for this environment (not development, or no HS256 secret)."""


def dev_user_id(name: str) -> str:
    return str(uuid.uuid5(DEV_USER_NAMESPACE, name))


def dev_user_email(name: str) -> str:
    return f"{name}@example.com"


def mint_dev_token(name: str, env: Mapping[str, str] | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
    """A user token for `name`, refused unless the environment is (or defaults to) development."""
    env = dict(os.environ if env is None else env)
    env.setdefault("IRONPATH_ENV", DEVELOPMENT)
    refusal = f"refusing to mint a development token: IRONPATH_ENV={env['IRONPATH_ENV']}, not {DEVELOPMENT}"
    try:
        settings = AuthSettings.from_env(env)
    except ConfigError as exc:
        raise CannotMint(refusal if env["IRONPATH_ENV"] != DEVELOPMENT else str(exc)) from None
    if not settings.is_development:
        raise CannotMint(refusal)
    if settings.jwt_secret is None:
        raise CannotMint("no HS256 secret to sign with (only IRONPATH_JWKS_URL is set)")
    return mint_user_token(settings, dev_user_id(name), dev_user_email(name), ttl_seconds=ttl_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.mint_token", description=__doc__.splitlines()[0])
    parser.add_argument("user", nargs="?", default=DEFAULT_USER, help="a user name (default: %(default)s)")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default: 24 h)")
    args = parser.parse_args(argv)
    name = args.user.strip()
    if not name:
        parser.error("the user name is empty")
    try:
        token = mint_dev_token(name, ttl_seconds=args.ttl)
    except CannotMint as exc:
        print(f"mint_token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
