"""Who is calling: Supabase user tokens and short-lived internal service tokens.

User tokens are verified with algorithms pinned per key type, never taken from
the token header: the legacy shared secret only ever verifies HS256, keys from
the JWKS only ever verify ES256/RS256, so a public key can never serve as an
HMAC secret. `exp`, `iat`, `sub`, `aud` and `iss` are required.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from ironpath_common.errors import Unauthenticated
from ironpath_common.settings import AuthSettings

logger = logging.getLogger(__name__)

HS_ALGORITHMS = ["HS256"]
ASYMMETRIC_ALGORITHMS = ["ES256", "RS256"]
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]

SERVICE_AUDIENCE = "ironpath-internal"
SERVICE_ISSUER_PREFIX = "ironpath-service:"
SERVICE_TOKEN_TTL_SECONDS = 120


@dataclass(frozen=True)
class User:
    """A lifter (or coach) authenticated by a user token."""

    user_id: str
    email: str


@dataclass(frozen=True)
class ServiceCaller:
    """Another IronPath service authenticated by a service token."""

    service: str


class JwksKeys:
    """The JWKS's keys by `kid`, refetched when stale or when an unknown `kid` appears.

    The HTTP fetch blocks, so it runs in a thread; one fetch at a time, and at most
    one per `cooldown_seconds` (so unknown kids or an unreachable JWKS cannot turn
    every call into a fetch). While the JWKS is unreachable the last keys stay in use.
    """

    def __init__(self, url: str, lifespan_seconds: float, cooldown_seconds: float = 5.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=5)
        self._lifespan = lifespan_seconds
        self._cooldown = min(cooldown_seconds, lifespan_seconds)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._expires_at = float("-inf")
        self._next_fetch_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        if now >= self._expires_at or (kid not in self._keys and now >= self._next_fetch_at):
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("token signed by an unknown key")
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if now < self._next_fetch_at:
                return  # fetched (or failed) moments ago, possibly while we waited for the lock
            self._next_fetch_at = now + self._cooldown
            try:
                jwk_set = await asyncio.to_thread(self._client.get_jwk_set, True)
            except jwt.PyJWKClientError:
                logger.warning("JWKS fetch failed; keeping %d known keys", len(self._keys))
                return
            self._keys = {k.key_id: k for k in jwk_set.keys if k.key_id}
            self._expires_at = time.monotonic() + self._lifespan


class VerifiedTokens:
    """Tokens already verified, until they expire: a client sends the same token on every call,
    and its signature cannot change, so checking it once is enough (bounded, oldest out first)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def get(self, token: str) -> Any:
        entry = self._entries.get(token)
        if entry is None:
            return None
        caller, expires_at = entry
        if time.time() >= expires_at:
            del self._entries[token]
            return None
        return caller

    def put(self, token: str, caller: Any, expires_at: float) -> None:
        self._entries[token] = (caller, expires_at)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class UserTokenVerifier:
    """Verifies Supabase access tokens (HS256 legacy secret and/or a JWKS)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._jwks = JwksKeys(settings.jwks_url, settings.jwks_cache_seconds) if settings.jwks_url else None
        self._verified = VerifiedTokens()

    async def verify(self, token: str) -> User:
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        user, expires_at = await self._verify(token)
        self._verified.put(token, user, expires_at)
        return user

    async def _verify(self, token: str) -> tuple[User, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        alg = header.get("alg")
        key: Any
        if alg in HS_ALGORITHMS and self._settings.jwt_secret is not None:
            key, algorithms = self._settings.jwt_secret, HS_ALGORITHMS
        elif alg in ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise Unauthenticated("token has no key id")
            key, algorithms = (await self._jwks.get(kid)).key, ASYMMETRIC_ALGORITHMS
        else:
            raise Unauthenticated("token algorithm not accepted")
        claims = self._decode(token, key, algorithms)
        return User(user_id=claims["sub"], email=str(claims.get("email") or "")), float(claims["exp"])

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthenticated("invalid token")
        return claims


class ServiceTokenVerifier:
    """Verifies the tokens IronPath services send each other on internal RPCs."""

    def __init__(self, settings: AuthSettings) -> None:
        self._secret = settings.service_token_secret
        self._leeway = settings.leeway_seconds
        self._verified = VerifiedTokens(capacity=256)

    def verify(self, token: str) -> ServiceCaller:
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        caller, expires_at = self._verify(token)
        self._verified.put(token, caller, expires_at)
        return caller

    def _verify(self, token: str) -> tuple[ServiceCaller, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=HS_ALGORITHMS,
                audience=SERVICE_AUDIENCE,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError:
            raise Unauthenticated("invalid service token") from None
        issuer = str(claims["iss"])
        if not issuer.startswith(SERVICE_ISSUER_PREFIX) or claims["sub"] != issuer.removeprefix(SERVICE_ISSUER_PREFIX):
            raise Unauthenticated("invalid service token")
        return ServiceCaller(service=claims["sub"]), float(claims["exp"])


class ServiceTokenIssuer:
    """Mints this service's short-lived token for internal calls, reusing it until near expiry."""

    def __init__(self, settings: AuthSettings, service: str) -> None:
        self._secret = settings.service_token_secret
        self._service = service
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token = jwt.encode(
                {
                    "iss": SERVICE_ISSUER_PREFIX + self._service,
                    "sub": self._service,
                    "aud": SERVICE_AUDIENCE,
                    "iat": int(now),
                    "exp": int(now) + SERVICE_TOKEN_TTL_SECONDS,
                    "jti": str(uuid.uuid4()),
                },
                self._secret,
                algorithm="HS256",
            )
            self._renew_at = now + SERVICE_TOKEN_TTL_SECONDS / 2
        return self._token


def mint_user_token(
    settings: AuthSettings,
    user_id: str,
    email: str,
    ttl_seconds: int = 3600,
    secret: str | None = None,
) -> str:
    """A Supabase-shaped access token signed with the HS256 secret (development and tests)."""
    key = secret if secret is not None else settings.jwt_secret
    if key is None:
        raise ValueError("no HS256 secret configured to sign with")
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "email": email,
        "phone": "",
        "role": "authenticated",
        "aal": "aal1",
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm="HS256")
