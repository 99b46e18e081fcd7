"""``core.auth.Tokens``: what the user service issues and every service verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from parley.core.auth import Tokens, bearer_token
from parley.core.errors import Unauthorized
from parley.core.ids import new_id
from parley.core.revocations import REVOCATIONS_KEY

SECRET = "a-test-secret-long-enough-for-every-hmac-algorithm-" + "x" * 20
USER = {"_id": new_id(), "name": "Alice", "email": "alice@example.com"}


@pytest.fixture
async def cache() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def tokens(cache: fakeredis.FakeAsyncRedis) -> Tokens:
    return Tokens(cache, secret=SECRET)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": USER["_id"], "user": USER, "iat": now, "exp": now + 600, "jti": "j-" + new_id()}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def ed25519_pems() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_an_issued_token_verifies_to_its_user(tokens: Tokens) -> None:
    token = tokens.issue(USER)
    identity = await tokens.verify(token)
    assert (identity.id, identity.name, identity.email) == (USER["_id"], "Alice", "alice@example.com")
    assert identity.user() == USER
    assert identity.token == token
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert set(payload) == {"sub", "user", "iat", "exp", "jti", "sid", "gen"}
    assert (identity.session, identity.generation) == (payload["sid"], 0)
    assert payload["exp"] - payload["iat"] == 7 * 24 * 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


async def test_every_token_has_its_own_id(tokens: Tokens) -> None:
    first, second = tokens.issue(USER), tokens.issue(USER)
    assert (await tokens.verify(first)).jti != (await tokens.verify(second)).jti


async def test_an_expired_token_is_refused(cache: fakeredis.FakeAsyncRedis) -> None:
    short = Tokens(cache, secret=SECRET, ttl_seconds=-5)
    with pytest.raises(Unauthorized, match="expired"):
        await short.verify(short.issue(USER))


async def test_a_token_signed_with_another_secret_is_refused(tokens: Tokens) -> None:
    forged = jwt.encode(claims(), "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    with pytest.raises(Unauthorized, match="Invalid token"):
        await tokens.verify(forged)


async def test_a_tampered_token_is_refused(tokens: Tokens) -> None:
    header, _, signature = tokens.issue(USER).split(".")
    other = {**USER, "_id": new_id()}
    tampered = f"{header}.{b64(claims(sub=other['_id'], user=other))}.{signature}"
    with pytest.raises(Unauthorized):
        await tokens.verify(tampered)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_another_algorithm_is_refused(tokens: Tokens, algorithm: str) -> None:
    with pytest.raises(Unauthorized):
        await tokens.verify(jwt.encode(claims(), SECRET, algorithm=algorithm))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_token_is_refused(tokens: Tokens, alg: str) -> None:
    unsigned = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(Unauthorized):
        await tokens.verify(unsigned)


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "jti"])
async def test_a_token_without_a_required_claim_is_refused(tokens: Tokens, missing: str) -> None:
    token = jwt.encode({k: v for k, v in claims().items() if k != missing}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        await tokens.verify(token)


@pytest.mark.parametrize(
    "user", [None, "alice", {"_id": "someone-else", "name": "x", "email": "x@example.com"}]
)
async def test_a_token_whose_user_is_not_its_subject_is_refused(tokens: Tokens, user: Any) -> None:
    body = claims()
    body["user"] = user
    with pytest.raises(Unauthorized):
        await tokens.verify(jwt.encode(body, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "....", "eyJ.eyJ.sig"])
async def test_garbage_is_refused(tokens: Tokens, garbage: str) -> None:
    with pytest.raises(Unauthorized):
        await tokens.verify(garbage)


async def test_a_revoked_token_is_refused_until_it_would_expire(
    tokens: Tokens, cache: fakeredis.FakeAsyncRedis
) -> None:
    token, other = tokens.issue(USER), tokens.issue(USER)
    identity = await tokens.verify(token)
    await tokens.revoke(identity)
    with pytest.raises(Unauthorized, match="logged out"):
        await tokens.verify(token)
    assert (await tokens.verify(other)).id == USER["_id"]
    until = await cache.zscore(REVOCATIONS_KEY, f"{identity.session} *")
    assert until is not None
    assert identity.exp <= until <= identity.exp + 2


async def test_a_revocation_is_seen_by_another_service(
    tokens: Tokens, cache: fakeredis.FakeAsyncRedis
) -> None:
    elsewhere = Tokens(cache, secret=SECRET)  # another service, the same cache
    token = tokens.issue(USER)
    await tokens.revoke(await tokens.verify(token))
    with pytest.raises(Unauthorized):
        await elsewhere.verify(token)


async def test_ed25519_tokens_verify_with_the_public_key_only(cache: fakeredis.FakeAsyncRedis) -> None:
    private, public = ed25519_pems()
    issuer = Tokens(cache, private_key=private)
    verifier = Tokens(cache, public_keys=public)
    token = issuer.issue(USER)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    assert (await verifier.verify(token)).id == USER["_id"]
    assert not verifier.can_issue
    with pytest.raises(RuntimeError):
        verifier.issue(USER)


async def test_a_verifier_with_public_keys_refuses_shared_secret_tokens(
    cache: fakeredis.FakeAsyncRedis,
) -> None:
    _, public = ed25519_pems()
    verifier = Tokens(cache, public_keys=public)
    with pytest.raises(Unauthorized):
        await verifier.verify(jwt.encode(claims(), SECRET, algorithm="HS256"))


async def test_a_token_from_an_unknown_key_is_refused(cache: fakeredis.FakeAsyncRedis) -> None:
    private, _ = ed25519_pems()
    _, other_public = ed25519_pems()
    token = Tokens(cache, private_key=private).issue(USER)
    with pytest.raises(Unauthorized):
        await Tokens(cache, public_keys=other_public).verify(token)


async def test_the_public_key_cannot_be_used_as_an_hmac_secret(cache: fakeredis.FakeAsyncRedis) -> None:
    # The classic confusion: sign HS256 with the published public key, naming its kid.
    private, public = ed25519_pems()
    issuer = Tokens(cache, private_key=private)
    kid = jwt.get_unverified_header(issuer.issue(USER))["kid"]
    header = b64({"alg": "HS256", "typ": "JWT", "kid": kid})
    body = b64(claims())
    signature = hmac.new(public.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{body}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    with pytest.raises(Unauthorized):
        await Tokens(cache, public_keys=public).verify(forged)


async def test_a_kid_with_the_wrong_algorithm_is_refused(cache: fakeredis.FakeAsyncRedis) -> None:
    ed_private, ed_public = ed25519_pems()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(Tokens(cache, private_key=ed_private).issue(USER))["kid"]
    forged = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(Unauthorized):
        await Tokens(cache, public_keys=ed_public).verify(forged)


async def test_rsa_keys_work_too(cache: fakeredis.FakeAsyncRedis) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = Tokens(cache, private_key=private).issue(USER)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (await Tokens(cache, public_keys=public).verify(token)).id == USER["_id"]


async def test_several_public_keys_in_one_variable(cache: fakeredis.FakeAsyncRedis) -> None:
    old_private, old_public = ed25519_pems()
    new_private, new_public = ed25519_pems()
    # As an environment variable would carry them: escaped newlines, one after the other.
    both = (old_public + new_public).replace("\n", "\\n")
    verifier = Tokens(cache, public_keys=both)
    for private in (old_private, new_private):
        assert (await verifier.verify(Tokens(cache, private_key=private).issue(USER))).id == USER["_id"]
    assert len(verifier.jwks()["keys"]) == 2


async def test_jwks_publishes_the_public_key(cache: fakeredis.FakeAsyncRedis) -> None:
    private, public = ed25519_pems()
    issuer = Tokens(cache, private_key=private)
    [key] = issuer.jwks()["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA"
    assert key["use"] == "sig"
    assert key["kid"] == jwt.get_unverified_header(issuer.issue(USER))["kid"]
    assert "d" not in key  # never the private part
    # A verifier built from the published key accepts the issuer's tokens.
    published = jwt.PyJWK.from_dict(key)
    assert jwt.decode(issuer.issue(USER), published.key, algorithms=["EdDSA"])["sub"] == USER["_id"]
    assert Tokens(cache, public_keys=public).jwks()["keys"][0]["x"] == key["x"]


def test_jwks_is_empty_with_a_shared_secret(tokens: Tokens) -> None:
    assert tokens.jwks() == {"keys": []}


def test_some_key_is_required(cache: fakeredis.FakeAsyncRedis) -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Tokens(cache)


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("BEARER x.y.z", "x.y.z")],
)
def test_bearer_tokens_are_read_from_the_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "abc", "Token abc"])
def test_anything_else_is_no_token(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


# -- verified tokens kept in process ---------------------------------------------------------------


async def test_a_verified_token_is_not_decoded_again_but_a_revocation_refuses_it_at_once(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tokens.issue(USER)
    first = await tokens.verify(token)
    decoded: list[str] = []
    decode = tokens.decode
    monkeypatch.setattr(tokens, "decode", lambda t: decoded.append(t) or decode(t))
    assert await tokens.verify(token) == first
    assert decoded == []  # from the cache
    await tokens.revoke(first)
    with pytest.raises(Unauthorized, match="logged out"):
        await tokens.verify(token)


async def test_a_remembered_token_is_checked_again_after_a_minute_or_once_it_expires(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    clock = [now]
    monkeypatch.setattr(tokens, "_clock", lambda: clock[0])
    short = jwt.encode(claims(exp=int(now) + 30), SECRET, algorithm="HS256")
    long = tokens.issue(USER)
    await tokens.verify(short)
    await tokens.verify(long)
    decoded: list[str] = []
    decode = tokens.decode
    monkeypatch.setattr(tokens, "decode", lambda t: decoded.append(t) or decode(t))
    clock[0] = now + 31  # past the short token's exp, within the minute: only it is checked again
    await tokens.verify(short)
    await tokens.verify(long)
    assert decoded == [short]
    clock[0] = now + 61  # the long one's minute is over: its signature is checked again
    await tokens.verify(long)
    assert decoded == [short, long]


async def test_the_verified_tokens_kept_are_bounded(tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("parley.core.auth.VERIFIED_CACHE_SIZE", 3)
    issued = [tokens.issue(USER) for _ in range(5)]
    for token in issued:
        await tokens.verify(token)
    assert list(tokens._verified) == issued[2:]
