"""Supabase-shaped user tokens for tests: the valid ones and every way a token can be wrong.

Valid HS256 tokens come from `ironpath_common.auth.mint_user_token`; the bad ones are built here,
some by hand because PyJWT rightly refuses to produce them (`alg: none` with a signature part,
HS256 signed with a public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt

from ironpath_common.auth import mint_user_token
from ironpath_common.settings import AuthSettings
from tests.support.jwks import EcKey

WRONG_SECRET = "not-the-secret-" + "x" * 32


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def user_claims(auth: AuthSettings, user_id: str | None = None, ttl_seconds: int = 3600, **overrides: Any) -> dict:
    """The claims of a Supabase access token; an override of None removes that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": auth.jwt_issuer,
        "aud": auth.jwt_audience,
        "sub": user_id or str(uuid.uuid4()),
        "email": "lifter@example.com",
        "phone": "",
        "role": "authenticated",
        "aal": "aal1",
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def hs256(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def valid_hs256(auth: AuthSettings, user_id: str | None = None) -> str:
    return mint_user_token(auth, user_id or str(uuid.uuid4()), "lifter@example.com")


def es256(auth: AuthSettings, key: EcKey, user_id: str | None = None, **overrides: Any) -> str:
    return key.sign(user_claims(auth, user_id, **overrides))


def _secret(auth: AuthSettings) -> str:
    if auth.jwt_secret is None:
        raise ValueError("these HS256 cases need IRONPATH_JWT_SECRET")
    return auth.jwt_secret


def expired(auth: AuthSettings) -> str:
    # Well past any clock-skew allowance.
    return hs256(user_claims(auth, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), _secret(auth))


def wrong_signature(auth: AuthSettings) -> str:
    return hs256(user_claims(auth), WRONG_SECRET)


def wrong_issuer(auth: AuthSettings) -> str:
    return hs256(user_claims(auth, iss="https://attacker.example.com/auth/v1"), _secret(auth))


def wrong_audience(auth: AuthSettings) -> str:
    return hs256(user_claims(auth, aud="anon"), _secret(auth))


def no_expiration(auth: AuthSettings) -> str:
    return hs256(user_claims(auth, exp=None), _secret(auth))


def alg_none(auth: AuthSettings, with_signature: bool = False) -> str:
    """An unsigned token (`alg: none`), with an empty signature part or with a bogus one."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(user_claims(auth)).encode())
    signature = b64url(b"bogus") if with_signature else ""
    return f"{header}.{payload}.{signature}"


def hs_rs_confused(auth: AuthSettings, key: EcKey) -> str:
    """Algorithm confusion: HS256 'signed' with the public key of an asymmetric key, naming its kid."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64url(json.dumps(user_claims(auth)).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def garbage() -> str:
    return "not.a.jwt"


def unauthenticated_tokens(auth: AuthSettings, asymmetric_key: EcKey) -> dict[str, str]:
    """Every token a gateway or service must answer with UNAUTHENTICATED, by case name."""
    return {
        "expired": expired(auth),
        "wrong_signature": wrong_signature(auth),
        "wrong_issuer": wrong_issuer(auth),
        "no_expiration": no_expiration(auth),
        "alg_none": alg_none(auth),
        "alg_none_with_signature": alg_none(auth, with_signature=True),
        "hs_rs_confused": hs_rs_confused(auth, asymmetric_key),
        "garbage": garbage(),
    }
