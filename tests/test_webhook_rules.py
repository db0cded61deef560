"""The pure rules of webhooks: fal's signature layout, JWKS parsing, and how an ERROR delivery
is judged (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fal_platform.batch.await_webhook import delivery_error
from fal_platform.batch.failures import is_job_failure
from fal_platform.client import ApiKey, FalBadRequestError, FalServerError, FalValidationError
from fal_platform.webhooks.rows import WebhookRow
from fal_platform.webhooks.signature import (
    SignatureRejectedError,
    SignedHeaders,
    check_timestamp,
    jwk_of,
    keys_of_jwks,
    sign,
    signed_message,
    verifies,
)

KEY = Ed25519PrivateKey.generate()
BODY = b'{"request_id":"r1","status":"OK","payload":{}}'


def test_the_signed_message_is_fals_layout() -> None:
    message = signed_message("r1", "u1", "1700000000", b"{}")
    assert message == (
        b"r1\nu1\n1700000000\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


def test_a_signature_verifies_only_its_own_body_and_headers_with_a_published_key() -> None:
    headers = sign(KEY, request_id="r1", user_id="u1", timestamp=1_700_000_000, body=BODY)
    published = keys_of_jwks({"keys": [jwk_of(KEY.public_key(), "k1")]})
    assert verifies(headers, BODY, published)
    assert not verifies(headers, BODY + b" ", published)
    assert not verifies(
        SignedHeaders("r2", "u1", headers.timestamp, headers.signature_hex), BODY, published
    )
    assert not verifies(
        headers,
        BODY,
        keys_of_jwks({"keys": [jwk_of(Ed25519PrivateKey.generate().public_key(), "k2")]}),
    )
    assert not verifies(SignedHeaders("r1", "u1", headers.timestamp, "not hex"), BODY, published)


def test_jwks_parsing_skips_what_is_not_an_ed25519_key_and_tolerates_missing_kty() -> None:
    jwk = jwk_of(KEY.public_key(), "k1")
    document = {
        "keys": [
            {"x": jwk["x"]},
            {"kty": "RSA", "n": "abc", "e": "AQAB"},
            {"kty": "OKP", "crv": "X25519", "x": jwk["x"]},
            {"kty": "OKP", "crv": "Ed25519", "x": "too-short"},
            "junk",
        ]
    }
    assert len(keys_of_jwks(document)) == 1
    assert keys_of_jwks({"nothing": []}) == [] and keys_of_jwks(None) == []


def test_timestamps_outside_five_minutes_or_unreadable_are_refused() -> None:
    check_timestamp("1000", now=1000 + 300)
    check_timestamp("1000", now=1000 - 300)
    for stamp, now in (("1000", 1301.0), ("1000", 699.0), ("soon", 1000.0)):
        with pytest.raises(SignatureRejectedError) as refused:
            check_timestamp(stamp, now=now)
        assert refused.value.reason == "timestamp"
    with pytest.raises(SignatureRejectedError, match="X-Fal-Webhook-Signature"):
        SignedHeaders.from_headers({"X-Fal-Webhook-Request-Id": "r1"})


def _error_delivery(error: str | None, payload: object) -> WebhookRow:
    return WebhookRow("r1", "ERROR", "r1", payload, error, None, "u", datetime.now(UTC))


def test_an_error_delivery_is_judged_like_the_result_it_stands_for() -> None:
    field = {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
    invalid = delivery_error(
        _error_delivery("Invalid status code: 422", {"detail": [field]}), "u", ApiKey()
    )
    assert (
        isinstance(invalid, FalValidationError) and invalid.field_errors[0].msg == "field required"
    )

    crashed = delivery_error(
        _error_delivery(
            "Invalid status code: 503",
            {"detail": "Runner disconnected", "error_type": "runner_disconnected"},
        ),
        "u",
        ApiKey(),
    )
    assert isinstance(crashed, FalServerError) and is_job_failure(crashed)
    assert crashed.error_type == "runner_disconnected" and crashed.request_id == "r1"

    unexplained = delivery_error(_error_delivery("something broke", None), "u", ApiKey())
    assert isinstance(unexplained, FalServerError) and unexplained.status_code == 500

    cancelled = delivery_error(
        _error_delivery("Invalid status code: 499", {"detail": "Request was cancelled"}),
        "u",
        ApiKey(),
    )
    assert isinstance(cancelled, FalBadRequestError) and not cancelled.retryable
