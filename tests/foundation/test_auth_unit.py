"""Token verification rules that need no server: pinned algorithms, required claims, the cache."""

from __future__ import annotations

import time

import pytest

from ironpath_common.auth import ServiceTokenIssuer, ServiceTokenVerifier, UserTokenVerifier, VerifiedTokens
from ironpath_common.errors import Unauthenticated
from ironpath_common.settings import AuthSettings
from tests.support import tokens
from tests.support.jwks import EcKey

AUTH = AuthSettings.from_env({"IRONPATH_ENV": "development", "IRONPATH_JWT_LEEWAY_SECONDS": "0"})


async def test_a_verified_token_is_served_from_the_cache_until_it_expires():
    verifier = UserTokenVerifier(AUTH)
    claims = tokens.user_claims(AUTH, "lifter-1")
    claims["exp"] = int(time.time()) + 2
    token = tokens.hs256(claims, AUTH.jwt_secret or "")
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first  # the cache answered
    time.sleep(2.1)
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)  # expired: the cache let go and the check refused it


async def test_a_refused_token_is_never_cached():
    verifier = UserTokenVerifier(AUTH)
    bad = tokens.wrong_signature(AUTH)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await verifier.verify(bad)


async def test_every_bad_token_is_refused_by_the_verifier():
    verifier = UserTokenVerifier(AUTH)
    for token in tokens.unauthenticated_tokens(AUTH, EcKey.generate()).values():
        with pytest.raises(Unauthenticated):
            await verifier.verify(token)


def test_a_user_token_is_not_a_service_token_and_the_reverse():
    services = ServiceTokenVerifier(AUTH)
    with pytest.raises(Unauthenticated):
        services.verify(tokens.valid_hs256(AUTH))
    service_token = ServiceTokenIssuer(AUTH, "feedback").token()
    assert services.verify(service_token).service == "feedback"


async def test_a_service_token_is_refused_as_a_user_token():
    with pytest.raises(Unauthenticated):
        await UserTokenVerifier(AUTH).verify(ServiceTokenIssuer(AUTH, "feedback").token())


def test_the_cache_is_bounded():
    cache = VerifiedTokens(capacity=2)
    later = time.time() + 60
    for name in ("a", "b", "c"):
        cache.put(name, name, later)
    assert cache.get("a") is None and cache.get("c") == "c"
