"""Error-body parsing and status-to-class mapping: pure logic over response values.

These build `httpx.Response` values directly (no transport is involved, nothing is mocked);
the same mapping is exercised end to end against the emulator in test_client_faults.py.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import aiohttp
import httpx
import pytest

from fal_platform.client import ApiKey, ModelsPage, errors
from fal_platform.client.aiohttp_transport import httpx_error
from fal_platform.client.decode import billable_units, json_object, parse_model, required_str
from fal_platform.client.error_mapping import (
    error_from_exception,
    error_from_response,
    is_certainly_not_sent,
    is_gateway_like,
    parse_error_body,
)

URL = "https://queue.fal.run/fal-ai/flux/dev"
SECRET = "key-id-123:super-secret-value"


def response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None, text: str | None = None
) -> httpx.Response:
    content = text.encode() if text is not None else json.dumps(body).encode()
    return httpx.Response(
        status, content=content, headers=headers or {}, request=httpx.Request("POST", URL)
    )


def test_parse_validation_detail_list() -> None:
    body = {
        "detail": [
            {
                "loc": ["body", "prompt"],
                "msg": "field required",
                "type": "value_error.missing",
                "url": "https://docs.fal.ai/errors#value_error.missing",
                "ctx": {"limit": 5},
            },
            {"loc": ["body", "num_images"], "msg": "too many", "type": "value_error"},
        ]
    }
    parsed = parse_error_body(json.dumps(body).encode())
    assert [e.loc for e in parsed.field_errors] == [["body", "prompt"], ["body", "num_images"]]
    first = parsed.field_errors[0]
    assert (first.msg, first.type, first.ctx) == (
        "field required",
        "value_error.missing",
        {"limit": 5},
    )
    assert first.url is not None and first.path == "body.prompt"
    assert parsed.message == "body.prompt: field required; body.num_images: too many"


def test_parse_validation_message_is_short_with_many_errors() -> None:
    detail = [{"loc": ["body", f"f{i}"], "msg": "bad", "type": "t"} for i in range(10)]
    parsed = parse_error_body(json.dumps({"detail": detail}))
    assert parsed.message.endswith("(+7 more)")
    assert len(parsed.field_errors) == 10


def test_parse_request_error_with_error_type() -> None:
    parsed = parse_error_body(b'{"detail": "Request timed out", "error_type": "request_timeout"}')
    assert (parsed.message, parsed.error_type) == ("Request timed out", "request_timeout")
    assert parsed.field_errors == []


def test_parse_platform_error_object() -> None:
    body = {
        "error": {
            "type": "rate_limited",
            "message": "Rate limit exceeded",
            "docs_url": "https://docs.fal.ai/x",
            "request_id": "req-9",
        }
    }
    parsed = parse_error_body(json.dumps(body))
    assert parsed.message == "Rate limit exceeded"
    assert parsed.error_type == "rate_limited"
    assert parsed.request_id == "req-9"
    assert parsed.docs_url == "https://docs.fal.ai/x"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", ""),
        (b"upstream connect error", "upstream connect error"),
        (b"<html><body>502 Bad Gateway nginx</body></html>", ""),
        (b"[1, 2]", "[1, 2]"),
        (b'{"detail": {"msg": "odd shape"}}', "odd shape"),
        (b'{"message": "plain"}', "plain"),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_parse_never_raises_on_odd_bodies(raw: bytes, message: str) -> None:
    assert parse_error_body(raw).message == message


def test_long_messages_are_truncated() -> None:
    parsed = parse_error_body(json.dumps({"detail": "x" * 5000}))
    assert len(parsed.message) <= 300 and parsed.message.endswith("...")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.FalBadRequestError),
        (401, errors.FalAuthenticationError),
        (403, errors.FalAuthenticationError),
        (404, errors.FalNotFoundError),
        (408, errors.FalBadRequestError),
        (409, errors.FalBadRequestError),
        (422, errors.FalValidationError),
        (429, errors.FalRateLimitedError),
        (499, errors.FalBadRequestError),
        (500, errors.FalServerError),
        (502, errors.FalServerError),
        (503, errors.FalServerError),
        (504, errors.FalServerError),
        (302, errors.FalResponseError),
    ],
)
def test_status_maps_to_error_class(status: int, cls: type[errors.FalError]) -> None:
    error = error_from_response(response(status, {"detail": "nope"}), api_key=ApiKey(None))
    assert type(error) is cls
    assert error.status_code == status
    assert error.url == URL
    assert isinstance(error, errors.FalError)


def test_retryable_per_class() -> None:
    def err(status: int) -> errors.FalError:
        return error_from_response(response(status, {"detail": "x"}), api_key=ApiKey(None))

    assert [err(s).retryable for s in (400, 401, 404, 408, 422, 429, 500, 503)] == [
        False,
        False,
        False,
        True,
        False,
        True,
        True,
        True,
    ]


def test_x_fal_retryable_header_overrides_the_class_default() -> None:
    error = error_from_response(
        response(500, {"detail": "x"}, headers={"X-Fal-Retryable": "false"}), api_key=ApiKey(None)
    )
    assert error.retryable is False


def test_server_error_takes_error_type_and_request_id_from_headers() -> None:
    error = error_from_response(
        response(
            503,
            {"detail": "Runner disconnected"},
            headers={"X-Fal-Error-Type": "runner_disconnected", "x-fal-request-id": "r-1"},
        ),
        api_key=ApiKey(None),
    )
    assert isinstance(error, errors.FalServerError)
    assert error.error_type == "runner_disconnected"
    assert error.request_id == "r-1"
    assert "Runner disconnected" in str(error) and "runner_disconnected" in str(error)


def test_body_error_type_and_request_id_are_used_without_headers() -> None:
    body = {"error": {"type": "server_error", "message": "boom", "request_id": "r-2"}}
    error = error_from_response(response(500, body), api_key=ApiKey(None))
    assert (error.error_type, error.request_id) == ("server_error", "r-2")


def test_validation_error_with_plain_string_detail() -> None:
    error = error_from_response(
        response(422, {"detail": "Content policy violation"}), api_key=ApiKey(None)
    )
    assert isinstance(error, errors.FalValidationError)
    assert error.field_errors == []
    assert "Content policy violation" in error.message


def test_rate_limited_reads_retry_after() -> None:
    error = error_from_response(
        response(429, {"detail": "slow down"}, headers={"Retry-After": "4"}), api_key=ApiKey(None)
    )
    assert isinstance(error, errors.FalRateLimitedError)
    assert error.retry_after == 4.0
    assert error.may_have_been_accepted is False


def test_auth_error_mentions_fal_key_and_never_the_key() -> None:
    key = ApiKey(SECRET)
    body = {"detail": f"Invalid key {SECRET}"}
    error = error_from_response(response(401, body), api_key=key)
    assert isinstance(error, errors.FalAuthenticationError)
    for text in (str(error), repr(error), error.message):
        assert "FAL_KEY" in text
        assert SECRET not in text
        assert "super-secret-value" not in text
    missing = error_from_response(response(401, {"detail": "No key"}), api_key=ApiKey(None))
    assert "FAL_KEY" in str(missing)


def test_submit_acceptance_flag_is_cleared_for_4xx_and_kept_for_5xx() -> None:
    key = ApiKey(None)
    assert error_from_response(
        response(503, {}), api_key=key, may_have_been_accepted=True
    ).may_have_been_accepted
    for status in (400, 401, 422, 429):
        error = error_from_response(response(status, {}), api_key=key, may_have_been_accepted=True)
        assert error.may_have_been_accepted is False


def test_gateway_like_means_no_request_id_and_no_user_timeout() -> None:
    assert is_gateway_like(response(503, {}))
    assert is_gateway_like(response(502, {}))
    assert not is_gateway_like(response(500, {}))
    assert not is_gateway_like(response(503, {}, headers={"x-fal-request-id": "r"}))
    assert not is_gateway_like(response(504, {}, headers={"X-Fal-Request-Timeout-Type": "user"}))


def _exception(cls: type[httpx.RequestError]) -> httpx.RequestError:
    return cls(f"failed talking to {URL}", request=httpx.Request("POST", URL))


@pytest.mark.parametrize(
    ("exc_cls", "error_cls", "accepted"),
    [
        (httpx.ConnectError, errors.FalConnectionError, False),
        (httpx.ConnectTimeout, errors.FalTimeoutError, False),
        (httpx.PoolTimeout, errors.FalTimeoutError, False),
        (httpx.ReadTimeout, errors.FalTimeoutError, True),
        (httpx.WriteTimeout, errors.FalTimeoutError, True),
        (httpx.ReadError, errors.FalConnectionError, True),
        (httpx.WriteError, errors.FalConnectionError, True),
        (httpx.RemoteProtocolError, errors.FalConnectionError, True),
        (httpx.DecodingError, errors.FalResponseError, True),
    ],
)
def test_exception_mapping(
    exc_cls: type[httpx.RequestError], error_cls: type[errors.FalError], accepted: bool
) -> None:
    error = error_from_exception(
        _exception(exc_cls), url=URL, api_key=ApiKey(None), may_be_accepted_if_sent=True
    )
    assert type(error) is error_cls
    assert error.may_have_been_accepted is accepted
    idempotent = error_from_exception(
        _exception(exc_cls), url=URL, api_key=ApiKey(None), may_be_accepted_if_sent=False
    )
    assert idempotent.may_have_been_accepted is False


def test_exception_text_is_redacted() -> None:
    exc = httpx.ReadError(f"boom {SECRET}", request=httpx.Request("GET", URL))
    error = error_from_exception(
        exc, url=URL, api_key=ApiKey(SECRET), may_be_accepted_if_sent=False
    )
    assert SECRET not in str(error)
    assert "****" in str(error)


def test_errors_survive_pickling() -> None:
    error = error_from_response(
        response(422, {"detail": [{"loc": ["body", "prompt"], "msg": "m", "type": "t"}]}),
        api_key=ApiKey(None),
    )
    assert isinstance(error, errors.FalValidationError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is errors.FalValidationError
    assert copy.field_errors[0].loc == ["body", "prompt"]
    assert str(copy) == str(error)
    assert copy.status_code == 422


def test_api_key_never_prints() -> None:
    key = ApiKey(SECRET)
    assert repr(key) == "ApiKey('****')"
    assert str(key) == "ApiKey('****')"
    assert SECRET not in f"{key} {key!r} {[key]}"
    assert key.header_value() == f"Key {SECRET}"
    assert key.redact(f"a {SECRET} b super-secret-value c") == "a **** b **** c"
    assert pickle.loads(pickle.dumps(key)) == key


def test_api_key_empty_means_unset() -> None:
    for value in (None, "", "   "):
        key = ApiKey(value)
        assert not key.is_set
        assert repr(key) == "ApiKey(None)"
        assert key.redact("text") == "text"
        with pytest.raises(ValueError, match="FAL_KEY"):
            key.header_value()


def test_api_key_from_env() -> None:
    assert ApiKey.from_env({"FAL_KEY": " abc "}) == ApiKey("abc")
    assert ApiKey.from_env({"FAL_KEY_ID": "id", "FAL_KEY_SECRET": "sec"}) == ApiKey("id:sec")
    assert not ApiKey.from_env({}).is_set


def _ok(body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, content=body, headers=headers or {}, request=httpx.Request("GET", URL)
    )


def test_success_body_problems_name_the_url_and_the_field() -> None:
    response = _ok(b'{"request_id": "r-1", "status_url": "s"}')
    data = json_object(response, "Submit response", may_have_been_accepted=True)
    with pytest.raises(errors.FalResponseError) as info:
        required_str(response, data, "response_url", "Submit response", may_have_been_accepted=True)
    assert info.value.url == URL
    assert "'response_url'" in str(info.value)
    assert info.value.may_have_been_accepted is True
    with pytest.raises(errors.FalResponseError, match="not JSON"):
        json_object(_ok(b"<html>"), "Result response")
    with pytest.raises(errors.FalResponseError, match="not a JSON object"):
        json_object(_ok(b"[1]"), "Result response")


def test_page_without_a_required_field_names_it() -> None:
    with pytest.raises(errors.FalResponseError, match="missing the 'has_more' field") as info:
        parse_model(_ok(b'{"models": []}'), ModelsPage, "Models page")
    assert info.value.url == URL
    with pytest.raises(errors.FalResponseError, match=r"'models\.0\.endpoint_id'"):
        parse_model(_ok(b'{"models": [{}], "has_more": false}'), ModelsPage, "Models page")


@pytest.mark.parametrize(
    ("header", "expected"), [("2.5", 2.5), ("0", 0.0), ("nan", None), ("x", None), (None, None)]
)
def test_billable_units_header(header: str | None, expected: float | None) -> None:
    headers = {"X-Fal-Billable-Units": header} if header is not None else {}
    assert billable_units(_ok(b"{}", headers)) == expected


def test_aiohttp_errors_say_never_sent_only_for_connect_failures():
    key = aiohttp.client_reqrep.ConnectionKey("fal.run", 443, True, True, None, None, None)
    never_sent = [
        aiohttp.ClientConnectorError(key, OSError(111, "refused")),
        aiohttp.ConnectionTimeoutError("connect timed out"),
    ]
    maybe_sent = [
        aiohttp.ServerDisconnectedError(),  # httpx-aiohttp alone calls this a ConnectTimeout
        aiohttp.ClientOSError(104, "reset by peer"),
        aiohttp.SocketTimeoutError("read timed out"),
        aiohttp.ClientPayloadError("truncated"),
    ]
    assert all(is_certainly_not_sent(httpx_error(exc)) for exc in never_sent)
    assert not any(is_certainly_not_sent(httpx_error(exc)) for exc in maybe_sent)
    assert isinstance(httpx_error(aiohttp.SocketTimeoutError()), httpx.ReadTimeout)
