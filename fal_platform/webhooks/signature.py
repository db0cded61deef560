"""fal's webhook signature, as pure functions (fal_protocol.md section 1.7).

fal signs `request_id \n user_id \n timestamp \n sha256_hex(raw body)` with Ed25519 and sends
the hex signature in `X-Fal-Webhook-Signature`; the public keys are published as a JWKS of OKP
keys (`kty: OKP`, `crv: Ed25519`, `x`: base64url). The headers carry no key id, so a signature
is accepted when any published key verifies it. The crypto is `cryptography`'s; nothing here
computes a signature by hand.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REQUEST_ID_HEADER = "X-Fal-Webhook-Request-Id"
USER_ID_HEADER = "X-Fal-Webhook-User-Id"
TIMESTAMP_HEADER = "X-Fal-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Fal-Webhook-Signature"
SIGNED_HEADERS = (REQUEST_ID_HEADER, USER_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
TIMESTAMP_LEEWAY_SECONDS = 300.0
"""fal's documented leeway: a delivery signed more than 5 minutes away from now is refused."""


class SignatureRejectedError(ValueError):
    """The delivery is not provably fal's (the receiver answers 401 and records nothing)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedHeaders:
    request_id: str
    user_id: str
    timestamp: str
    signature_hex: str

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SignedHeaders:
        """The four headers (case-insensitive `headers`, e.g. Starlette's); all must be there."""
        missing = [name for name in SIGNED_HEADERS if not headers.get(name)]
        if missing:
            raise SignatureRejectedError("headers", f"missing headers: {', '.join(missing)}")
        return cls(*(str(headers[name]) for name in SIGNED_HEADERS))

    def as_dict(self) -> dict[str, str]:
        values = (self.request_id, self.user_id, self.timestamp, self.signature_hex)
        return dict(zip(SIGNED_HEADERS, values, strict=True))


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """What fal signs: the three header values and the body's sha256, newline-separated."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((request_id, user_id, timestamp, digest)).encode()


def sign(
    key: Ed25519PrivateKey, *, request_id: str, user_id: str, timestamp: int, body: bytes
) -> SignedHeaders:
    """The headers of a delivery signed with `key` (the emulator plays fal with this)."""
    stamp = str(timestamp)
    signature = key.sign(signed_message(request_id, user_id, stamp, body))
    return SignedHeaders(request_id, user_id, stamp, signature.hex())


def check_timestamp(timestamp: str, now: float, leeway: float = TIMESTAMP_LEEWAY_SECONDS) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureRejectedError("timestamp", "timestamp is not epoch seconds") from None
    if abs(now - sent) > leeway:
        raise SignatureRejectedError("timestamp", f"timestamp is {now - sent:+.0f} s away from now")


def verifies(headers: SignedHeaders, body: bytes, keys: Iterable[Ed25519PublicKey]) -> bool:
    """Whether any of `keys` verifies the signature over `body`."""
    try:
        signature = bytes.fromhex(headers.signature_hex)
    except ValueError:
        return False
    message = signed_message(headers.request_id, headers.user_id, headers.timestamp, body)
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_of(key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """One public key as a JWK (RFC 8037), as fal's JWKS lists them."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": kid, "use": "sig"}


def keys_of_jwks(document: Any) -> list[Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS document; other key types and malformed entries are skipped
    (`kty`/`crv` may be left out, as some copies of fal's JWKS do: then `x` alone counts)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: list[Ed25519PublicKey] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("x"), str):
            continue
        if entry.get("kty", "OKP") != "OKP" or entry.get("crv", "Ed25519") != "Ed25519":
            continue
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(_b64url_decode(entry["x"])))
        except ValueError:
            continue
    return keys
