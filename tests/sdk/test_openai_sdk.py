"""Client conformance: the official ``openai`` Python SDK talking to Tollgate (SPEC §1, §4, §6).

Upstream is the in-repo mock provider, whose answers are deterministic:

- chat: ``chunks`` (default 8) words joined by single spaces, the first being "Hello";
  prompt_tokens = words in all message texts, completion_tokens = chunks;
- tools: a call to the first tool with arguments {"location": "Paris"}; a last message of role
  "tool" is answered with "tool result received: <content>";
- response_format json_object / json_schema: content {"answer":"Hello"};
- embeddings: element j of the vector for input i is (i+1)*(j+1)/100 as f32, ``dimensions``
  (default 8) elements, prompt_tokens = words of the input.

Fixtures (providers, models, users, keys, the ``Admin`` and ``Mock`` helpers) are in conftest.py.
"""

from __future__ import annotations

import json
import re
import secrets
import struct
import uuid
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlparse

import openai
import pytest

from conftest import (
    IMAGE_QUESTION,
    PASSTHROUGH_SCENARIO,
    PNG_BASE64,
    PROVIDER_KINDS,
    tool_result_reply,
    upstream_image,
    upstream_max_tokens,
    usage_cost,
)

MOCK_UPSTREAM_MODEL = "mock-gpt"
MOCK_PROVIDER_KEY = "sk-mock-1"

PROMPT = "Say hello to the whole world"
MESSAGES = [{"role": "user", "content": PROMPT}]
PROMPT_TOKENS = 6  # words in PROMPT, as the mock counts them
REPLY_WORDS = 8  # the mock's default reply length, one completion token per word

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
MOCK_TOOL_ARGUMENTS = {"location": "Paris"}


# -- helpers -----------------------------------------------------------------------------------


def assert_mock_reply(text: str | None, words: int = REPLY_WORDS) -> None:
    """``text`` is the mock's chat reply: ``words`` words, single spaces, first one "Hello"."""
    assert text is not None
    parts = text.split(" ")
    assert parts[0] == "Hello", text
    assert len(parts) == words, text
    assert all(parts), f"empty word (double space?) in {text!r}"


def f32(x: float) -> float:
    """``x`` rounded to the nearest f32, as the mock computes it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def mock_embedding(i: int, dimensions: int) -> list[float]:
    """The mock's vector for input number ``i``."""
    return [f32((i + 1) * (j + 1) / 100.0) for j in range(dimensions)]


def assert_openai_error(err: openai.APIStatusError, status: int) -> dict:
    """The error response has ``status`` and the OpenAI body ``{"error": {message, type, ...}}``;
    returns the inner error object."""
    assert err.status_code == status, f"expected {status}, got {err.status_code}: {err.response.text}"
    payload = err.response.json()
    error = payload["error"]
    assert isinstance(error["message"], str) and error["message"], payload
    assert isinstance(error["type"], str) and error["type"], payload
    # The SDK exposes the inner error object as `.body` (and its type as `.type`).
    assert err.body == error
    assert err.type == error["type"]
    return error


# -- 1. non-stream chat --------------------------------------------------------------------------


def test_chat_completion(client, gateway):
    raw = client.chat.completions.with_raw_response.create(model=gateway.model, messages=MESSAGES)
    completion = raw.parse()

    assert raw.status_code == 200
    assert raw.headers.get("x-request-id"), "every response carries x-request-id"
    assert completion.object == "chat.completion"
    # A passthrough relays the upstream's model name; a gateway may also answer with the public
    # name that was requested. Either is a correct OpenAI response.
    assert completion.model in {gateway.model, MOCK_UPSTREAM_MODEL}
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert_mock_reply(choice.message.content)
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == REPLY_WORDS
    assert completion.usage.total_tokens == PROMPT_TOKENS + REPLY_WORDS


def test_client_request_id_is_echoed(client, gateway):
    request_id = f"sdk-{uuid.uuid4()}"
    raw = client.chat.completions.with_raw_response.create(
        model=gateway.model, messages=MESSAGES, extra_headers={"x-request-id": request_id}
    )
    assert raw.headers["x-request-id"] == request_id
    assert_mock_reply(raw.parse().choices[0].message.content)


# -- 2./3. streaming -----------------------------------------------------------------------------


def test_stream_without_include_usage(client, gateway, mock):
    full_text = client.chat.completions.create(model=gateway.model, messages=MESSAGES).choices[0].message.content
    chunks = list(client.chat.completions.create(model=gateway.model, messages=MESSAGES, stream=True))

    assert chunks
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    # The gateway asked the upstream for usage (below) and must strip that chunk.
    assert all(c.usage is None for c in chunks), "a usage chunk reached a client that did not ask"
    assert all(c.choices for c in chunks), "a chunk with empty choices reached the client"
    words = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(words) == REPLY_WORDS, "the mock streams one chunk per word"
    text = "".join(words)
    assert_mock_reply(text)
    assert text == full_text
    finish_reasons = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finish_reasons == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"

    # SPEC §1: streaming requests always ask the upstream for usage.
    upstream = mock.last()
    assert upstream["path"].endswith("/v1/chat/completions")
    assert upstream["body"]["stream"] is True
    assert upstream["body"]["stream_options"]["include_usage"] is True


def test_stream_with_include_usage(client, gateway):
    chunks = list(
        client.chat.completions.create(
            model=gateway.model,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    *content_chunks, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == PROMPT_TOKENS
    assert usage_chunk.usage.completion_tokens == REPLY_WORDS
    assert usage_chunk.usage.total_tokens == PROMPT_TOKENS + REPLY_WORDS
    assert all(c.usage is None for c in content_chunks)
    assert all(c.choices for c in content_chunks)
    assert_mock_reply("".join(c.choices[0].delta.content or "" for c in content_chunks))
    assert content_chunks[-1].choices[0].finish_reason == "stop"


# -- 4. tools ------------------------------------------------------------------------------------


def test_tool_call(client, gateway):
    completion = client.chat.completions.create(
        model=gateway.model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL]
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == MOCK_TOOL_ARGUMENTS


def test_tool_result_round_trip(client, gateway):
    first = client.chat.completions.create(
        model=gateway.model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL]
    )
    call = first.choices[0].message.tool_calls[0]
    tool_output = "18 degrees and sunny"
    messages = [
        *WEATHER_QUESTION,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": tool_output},
    ]

    # No `tools` on the second turn, so the mock's tool-call rule cannot take precedence.
    reply = client.chat.completions.create(model=gateway.model, messages=messages)

    assert reply.choices[0].message.content == f"tool result received: {tool_output}"
    assert reply.choices[0].finish_reason == "stop"


def test_streamed_tool_call_reassembles(client, gateway):
    chunks = list(
        client.chat.completions.create(
            model=gateway.model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL], stream=True
        )
    )
    calls = streamed_calls(chunks)
    reasons = [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason]
    finish_reason = reasons[-1] if reasons else None

    assert list(calls) == [0]
    assert calls[0]["id"]
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == MOCK_TOOL_ARGUMENTS
    assert finish_reason == "tool_calls"


def test_parallel_tool_calls(client, gateway):
    parallel = client.chat.completions.create(
        model=gateway.model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    calls = parallel.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    assert json.loads(calls[0].function.arguments) == MOCK_TOOL_ARGUMENTS
    assert parallel.choices[0].finish_reason == "tool_calls"

    single = client.chat.completions.create(
        model=gateway.model,
        messages=WEATHER_QUESTION,
        tools=[WEATHER_TOOL, TIME_TOOL],
        parallel_tool_calls=False,
    )
    assert [c.function.name for c in single.choices[0].message.tool_calls] == ["get_weather"]


def test_tool_choice_none_answers_with_text(client, gateway):
    completion = client.chat.completions.create(
        model=gateway.model, messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert completion.choices[0].message.tool_calls is None
    assert_mock_reply(completion.choices[0].message.content)
    assert completion.choices[0].finish_reason == "stop"


# -- 5. embeddings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "prompt_tokens"),
    [
        ("the quick brown fox", 4),
        (["hello world", "one two three"], 5),
    ],
    ids=["single-string", "list"],
)
def test_embeddings(client, gateway, inputs, prompt_tokens):
    n_inputs = 1 if isinstance(inputs, str) else len(inputs)
    expected = [mock_embedding(i, 8) for i in range(n_inputs)]

    default = client.embeddings.create(model=gateway.model, input=inputs)  # SDK asks for base64
    floats = client.embeddings.create(model=gateway.model, input=inputs, encoding_format="float")

    for response in (default, floats):
        assert response.object == "list"
        assert [d.index for d in response.data] == list(range(n_inputs))
        assert all(d.object == "embedding" for d in response.data)
        assert [d.embedding for d in response.data] == [
            pytest.approx(vector, abs=1e-6) for vector in expected
        ]
        assert response.usage.prompt_tokens == prompt_tokens
        assert response.usage.total_tokens == prompt_tokens
    for b64, flt in zip(default.data, floats.data):
        assert b64.embedding == pytest.approx(flt.embedding, abs=1e-6)


@pytest.mark.parametrize("encoding_format", [None, "float"], ids=["base64-default", "float"])
def test_embeddings_dimensions(client, gateway, encoding_format):
    kwargs = {"encoding_format": encoding_format} if encoding_format else {}
    response = client.embeddings.create(
        model=gateway.model, input=["a b", "c d"], dimensions=4, **kwargs
    )
    assert [d.embedding for d in response.data] == [
        pytest.approx(mock_embedding(0, 4), abs=1e-6),
        pytest.approx(mock_embedding(1, 4), abs=1e-6),
    ]


#: The embeddings model each kind's provider is given on the mock, and the inputs sent: Titan
#: embeds one text per request; an Anthropic provider has no embeddings at all (a 400).
EMBEDDING_TARGETS = [
    ("openai", "mock-embedding", ["hello world", "one two three"]),
    ("azure-openai", "mock-embedding", ["hello world", "one two three"]),
    ("gemini", "gemini-embedding-001", ["hello world", "one two three"]),
    ("bedrock", "cohere.embed-english-v3", ["hello world", "one two three"]),
    ("bedrock", "amazon.titan-embed-text-v2:0", ["hello world"]),
]


@pytest.mark.parametrize(
    ("kind", "upstream", "inputs"), EMBEDDING_TARGETS, ids=[f"{k}-{u}" for k, u, _ in EMBEDDING_TARGETS]
)
def test_kind_embeddings_with_exact_usage_and_cost(client, env, admin, suffix, kind, upstream, inputs):
    tag = f"{kind}-{secrets.token_hex(3)}-{suffix}"
    provider = admin.create_provider(f"emb-{tag}", env.provider_url(kind, "prompt_tokens=1000"), kind=kind)
    model = admin.create_model(f"emb-{tag}", provider["name"], upstream_model=upstream)["name"]

    # The SDK asks for base64 unless told otherwise; both come back as the same floats.
    for kwargs in ({}, {"encoding_format": "float"}):
        raw = client.embeddings.with_raw_response.create(model=model, input=inputs, **kwargs)
        response = raw.parse()
        assert response.object == "list"
        assert [d.index for d in response.data] == list(range(len(inputs)))
        assert [d.embedding for d in response.data] == [
            pytest.approx(mock_embedding(i, 8), abs=1e-6) for i in range(len(inputs))
        ]
        assert response.usage.prompt_tokens == 1000
        assert response.usage.total_tokens == 1000
        # 1000 input tokens at 2.5 credits per million.
        assert Decimal(raw.headers["x-tollgate-cost"]) == Decimal("0.0025")
        assert usage_cost(response.usage) == Decimal("0.0025")


def test_anthropic_provider_embeddings_is_a_clear_400(client, env, admin, suffix):
    provider = admin.create_provider(f"emb-anthropic-{suffix}", env.provider_url("anthropic"), kind="anthropic")
    model = admin.create_model(f"emb-anthropic-{suffix}", provider["name"])["name"]
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model=model, input="hello")
    error = assert_openai_error(exc.value, 400)
    assert "does not serve it" in error["message"]


# -- 6. models -----------------------------------------------------------------------------------


def test_models_list(client, restricted_client, gateway):
    models = list(client.models.list())
    assert all(m.object == "model" for m in models)
    assert {gateway.model, gateway.failing_model} <= {m.id for m in models}

    restricted = [m.id for m in restricted_client.models.list()]
    assert restricted == [gateway.model]


# -- 7. errors -----------------------------------------------------------------------------------


def test_bad_key_is_401(make_client, gateway):
    bad_client = make_client("tg-" + "0" * 43)
    with pytest.raises(openai.AuthenticationError) as exc:
        bad_client.chat.completions.create(model=gateway.model, messages=MESSAGES)
    assert_openai_error(exc.value, 401)


def test_zero_balance_is_402(broke_client, gateway, mock):
    chat_requests = mock.chat_requests()
    with pytest.raises(openai.APIStatusError) as exc:
        broke_client.chat.completions.create(model=gateway.model, messages=MESSAGES)
    error = assert_openai_error(exc.value, 402)
    assert re.search(r"credit|balance", error["message"], re.IGNORECASE), error["message"]
    assert mock.chat_requests() == chat_requests, "a request that cannot be paid reached upstream"


def test_unknown_model_is_404(client, gateway):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model=f"no-such-model-{gateway.suffix}", messages=MESSAGES)
    assert_openai_error(exc.value, 404)


def test_model_not_allowed_for_key_is_403(restricted_client, gateway, mock):
    chat_requests = mock.chat_requests()
    with pytest.raises(openai.PermissionDeniedError) as exc:
        restricted_client.chat.completions.create(model=gateway.failing_model, messages=MESSAGES)
    assert_openai_error(exc.value, 403)
    assert mock.chat_requests() == chat_requests, "a forbidden request reached upstream"


def test_upstream_failure_is_502_without_provider_key(client, gateway, admin):
    with pytest.raises(openai.InternalServerError) as exc:
        client.chat.completions.create(model=gateway.failing_model, messages=MESSAGES)
    error = assert_openai_error(exc.value, 502)
    assert "sk-mock" not in error["message"]
    assert "sk-mock" not in exc.value.response.text
    assert MOCK_PROVIDER_KEY not in str(dict(exc.value.response.headers))

    record = admin.wait_for_call(gateway.key["id"], exc.value.response.headers["x-request-id"])
    assert record["status"] == "failed"
    assert record["model"] == gateway.failing_model
    assert Decimal(record["cost"]) == Decimal("0"), "nothing was produced, nothing is charged"


def test_exhausted_budget_is_402_naming_the_budget(make_client, admin, gateway, mock):
    key = admin.create_key(gateway.user["id"], name=f"sdk-budget-{gateway.suffix}")
    # One nano-credit a day: no priced call fits.
    admin.request("PATCH", f"/keys/{key['id']}", json={"budget": "0.000000001", "budget_period": "daily"})
    chat_requests = mock.chat_requests()
    with pytest.raises(openai.APIStatusError) as exc:
        make_client(key["key"]).chat.completions.create(model=gateway.model, messages=MESSAGES)
    error = assert_openai_error(exc.value, 402)
    assert error["code"] == "budget_exceeded"
    assert "daily budget of this API key" in error["message"], error["message"]
    assert mock.chat_requests() == chat_requests, "a call over budget reached upstream"


def test_rate_limited_is_429_with_retry_after(make_client, admin, gateway):
    key = admin.create_key(gateway.user["id"], name=f"sdk-rpm-{gateway.suffix}")
    admin.request("PATCH", f"/keys/{key['id']}", json={"rpm": 1})
    limited = make_client(key["key"])
    raw = limited.chat.completions.with_raw_response.create(model=gateway.model, messages=MESSAGES)
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as exc:
        limited.chat.completions.create(model=gateway.model, messages=MESSAGES)
    error = assert_openai_error(exc.value, 429)
    assert error["code"] == "rate_limit_exceeded"
    headers = exc.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60, headers
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_revoked_key_is_401(admin, make_client, gateway):
    key = admin.create_key(gateway.user["id"], name=f"sdk-revoked-{gateway.suffix}")
    revoked_client = make_client(key["key"])
    assert gateway.model in {m.id for m in revoked_client.models.list()}  # works before revoking

    admin.revoke_key(key["id"])

    with pytest.raises(openai.AuthenticationError) as exc:
        revoked_client.chat.completions.create(model=gateway.model, messages=MESSAGES)
    assert_openai_error(exc.value, 401)


# -- 8. billing ----------------------------------------------------------------------------------

# The billing provider's mock scenario reports 1000 prompt and 500 completion tokens; the model
# costs 2.5 credits per 1M input and 10 per 1M output tokens.
BILLED_INPUT_TOKENS = 1000
BILLED_OUTPUT_TOKENS = 500
EXPECTED_COST = Decimal("0.0075")  # 1000 * 2.5 / 1e6 + 500 * 10 / 1e6
STARTING_BALANCE = Decimal("10")


def assert_billed_record(record, *, request_id, model, account, provider):
    assert record["request_id"] == request_id
    assert record["status"] == "success"
    assert record["model"] == model
    assert record["upstream_model"] == MOCK_UPSTREAM_MODEL
    assert record["provider_id"] == provider["id"]
    assert record["user_id"] == account.user["id"]
    assert record["key_id"] == account.key["id"]
    assert record["input_tokens"] == BILLED_INPUT_TOKENS
    assert record["output_tokens"] == BILLED_OUTPUT_TOKENS
    assert record["cached_tokens"] == 0
    assert isinstance(record["cost"], str), "cost is a decimal string"
    assert Decimal(record["cost"]) == EXPECTED_COST
    assert record["id"] and record["started_at"]
    assert record["duration_ms"] >= 0


def test_billing_is_exact(make_client, admin, billing_model, billing_provider, billing_account):
    account = billing_account
    assert EXPECTED_COST == (
        BILLED_INPUT_TOKENS * Decimal("2.5") + BILLED_OUTPUT_TOKENS * Decimal("10")
    ) / Decimal(10**6)
    assert admin.balance(account.user["id"]) == STARTING_BALANCE
    client = make_client(account.key["key"])

    raw = client.chat.completions.with_raw_response.create(model=billing_model, messages=MESSAGES)
    completion = raw.parse()

    assert_mock_reply(completion.choices[0].message.content)
    assert completion.usage.prompt_tokens == BILLED_INPUT_TOKENS
    assert completion.usage.completion_tokens == BILLED_OUTPUT_TOKENS
    assert raw.headers["x-tollgate-cost"] == "0.0075"

    record = admin.wait_for_call(account.key["id"], raw.headers["x-request-id"])
    assert_billed_record(
        record,
        request_id=raw.headers["x-request-id"],
        model=billing_model,
        account=account,
        provider=billing_provider,
    )

    expected_balance = STARTING_BALANCE - EXPECTED_COST  # 9.9925
    assert admin.wait_for_balance(account.user["id"], expected_balance) == expected_balance
    me = admin.me(account.key["key"])
    assert me["user"]["id"] == account.user["id"]
    assert me["key"]["id"] == account.key["id"]
    assert Decimal(me["user"]["balance"]) == expected_balance


def test_streamed_call_is_billed_exactly(
    make_client, admin, billing_model, billing_provider, billing_account
):
    """The usage the gateway requested from the upstream (and stripped) is what it bills."""
    account = billing_account
    client = make_client(account.key["key"])

    raw = client.chat.completions.with_raw_response.create(
        model=billing_model, messages=MESSAGES, stream=True
    )
    chunks = list(raw.parse())

    assert all(c.usage is None for c in chunks)
    assert_mock_reply("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))

    record = admin.wait_for_call(account.key["id"], raw.headers["x-request-id"])
    assert_billed_record(
        record,
        request_id=raw.headers["x-request-id"],
        model=billing_model,
        account=account,
        provider=billing_provider,
    )
    expected_balance = STARTING_BALANCE - EXPECTED_COST
    assert admin.wait_for_balance(account.user["id"], expected_balance) == expected_balance


def test_credit_grant_is_idempotent(admin, suffix):
    user = admin.create_user(f"sdk-grant-{suffix}")
    idempotency_key = f"sdk-grant-{suffix}-{uuid.uuid4()}"

    first = admin.grant(user["id"], Decimal("1.5"), idempotency_key)
    again = admin.grant(user["id"], Decimal("1.5"), idempotency_key)

    assert again["id"] == first["id"]
    assert admin.balance(user["id"]) == Decimal("1.5")


# -- 9. passthrough fidelity ---------------------------------------------------------------------


def test_passthrough_fidelity(client, passthrough_model, passthrough_provider, mock):
    secret_header_value = f"must-not-leave-the-gateway-{uuid.uuid4()}"

    completion = client.chat.completions.create(
        model=passthrough_model,
        messages=MESSAGES,
        temperature=0.3,
        response_format={"type": "json_object"},
        user="u1",
        seed=7,
        extra_body={"custom_field": {"a": 1}},
        extra_headers={"x-secret-header": secret_header_value},
    )
    assert json.loads(completion.choices[0].message.content) == {"answer": "Hello"}

    upstream = mock.last()
    provider_path = urlparse(passthrough_provider["base_url"]).path  # /s/<opts>/v1
    assert upstream["method"] == "POST"
    assert upstream["path"] == f"{provider_path}/chat/completions"

    body = upstream["body"]
    assert body["model"] == MOCK_UPSTREAM_MODEL
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.3
    assert body["response_format"] == {"type": "json_object"}
    assert body["user"] == "u1"
    assert body["seed"] == 7
    assert body["custom_field"] == {"a": 1}

    headers = upstream["headers"]
    assert [v for n, v in headers if n == "authorization"] == [f"Bearer {MOCK_PROVIDER_KEY}"]
    assert not [n for n, _ in headers if n == "x-secret-header"]
    assert not [n for n, v in headers if secret_header_value in v]
    assert not [n for n, v in headers if client.api_key in v], "the tg- key was sent upstream"


# -- 10. provider/model addressing ---------------------------------------------------------------


def test_provider_slash_model_addressing(client, gateway, mock):
    provider_name = gateway.provider["name"]

    completion = client.chat.completions.create(
        model=f"{provider_name}/{MOCK_UPSTREAM_MODEL}", messages=MESSAGES
    )
    assert_mock_reply(completion.choices[0].message.content)
    assert completion.usage.prompt_tokens == PROMPT_TOKENS

    chat_requests = mock.chat_requests()
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model=f"{provider_name}/some-unpriced-model", messages=MESSAGES
        )
    error = assert_openai_error(exc.value, 400)
    assert re.search(r"\bpric(e|es|ed|ing)\b", error["message"], re.IGNORECASE), error["message"]
    assert f"{provider_name}/some-unpriced-model" in error["message"], "the refusal names the model"
    assert mock.chat_requests() == chat_requests, "an unpriced call must fail closed, before upstream"


# -- every provider kind: passed through (openai), at deployment URLs (azure-openai), or ----
# -- converted (anthropic, gemini, bedrock) ----------------------------------------------------

#: Usage every reply of a served ``usage`` provider reports: 1000 prompt tokens of which 200
#: were read from and 100 written to the cache, 500 output tokens. Each kind reports it in its
#: own convention (Anthropic and Bedrock input excludes cache reads and writes; Gemini's
#: promptTokenCount includes cachedContentTokenCount and has no cache writes; Azure is
#: OpenAI's); OpenAI's prompt_tokens counts all 1000 whatever the kind.
SERVED_USAGE = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200,cache_write_tokens=100"
#: (700 + 200 + 100) × 2.5 + 500 × 10 credits per million tokens (no cache prices are set,
#: so cache reads and writes cost as input).
SERVED_COST = Decimal("0.0075")


@dataclass(frozen=True)
class Served:
    """Two priced models on providers of one kind: ``usage`` reports ``SERVED_USAGE``,
    ``plain`` the mock's own counts (prompt words, one token per reply word)."""

    kind: str
    usage: str
    plain: str


@pytest.fixture(scope="session", params=PROVIDER_KINDS)
def served(request, env, admin, suffix) -> Served:
    kind = request.param
    names = []
    for scenario in (SERVED_USAGE, PASSTHROUGH_SCENARIO):
        tag = f"{kind}-{secrets.token_hex(3)}-{suffix}"
        provider = admin.create_provider(f"kind-{tag}", env.provider_url(kind, scenario), kind=kind)
        names.append(admin.create_model(f"gpt-{tag}", provider["name"])["name"])
    return Served(kind=kind, usage=names[0], plain=names[1])


def reply_model(served: Served, model: str) -> str:
    """The model a response names: a converted answer names the requested model; an OpenAI
    or Azure answer is relayed as the provider sent it."""
    return MOCK_UPSTREAM_MODEL if served.kind in ("openai", "azure-openai") else model


def assert_upstream(kind: str, last: dict, *, stream: bool) -> None:
    """The request the mock received is the kind's own: its URL, its way of carrying the key."""
    headers = dict(last["headers"])
    assert last["dialect"] == kind
    if kind == "anthropic":
        assert last["path"].endswith("/v1/messages")
        assert headers["x-api-key"] == MOCK_PROVIDER_KEY and headers["anthropic-version"]
        assert last["body"].get("stream", False) is stream
    elif kind == "openai":
        assert last["path"].endswith("/v1/chat/completions")
        assert headers["authorization"] == f"Bearer {MOCK_PROVIDER_KEY}"
    elif kind == "azure-openai":
        assert f"/openai/deployments/{MOCK_UPSTREAM_MODEL}/chat/completions" in last["path"]
        assert last["query"].startswith("api-version=")
        assert headers["api-key"] == MOCK_PROVIDER_KEY
    elif kind == "gemini":
        method = "streamGenerateContent" if stream else "generateContent"
        assert f"/models/{MOCK_UPSTREAM_MODEL}:{method}" in last["path"]
        assert "key=" not in last["query"], "the Gemini key never travels in the URL"
        assert headers["x-goog-api-key"] and "model" not in last["body"]
    elif kind == "bedrock":
        action = "converse-stream" if stream else "converse"
        assert last["path"].endswith(f"/model/{MOCK_UPSTREAM_MODEL}/{action}")
        # The mock verified the SigV4 signature in full, with the credential's secret.
        assert "Credential=AKIDSDKSUITE/" in headers["authorization"]
    assert "authorization" not in headers or not headers["authorization"].startswith("Bearer tg-")


def upstream_system(kind: str, body: dict) -> list[str]:
    """The system prompt texts of an upstream request, in the kind's shape."""
    if kind == "anthropic":
        system = body["system"]
        return [system] if isinstance(system, str) else [b["text"] for b in system]
    if kind == "gemini":
        return [p["text"] for p in body["systemInstruction"]["parts"]]
    if kind == "bedrock":
        return [b["text"] for b in body["system"] if "text" in b]
    return [m["content"] for m in body["messages"] if m["role"] in ("system", "developer")]


def assert_served_usage(usage) -> None:
    """``SERVED_USAGE`` in OpenAI's convention: prompt_tokens includes the cached tokens."""
    assert usage.prompt_tokens == 1000
    assert usage.prompt_tokens_details.cached_tokens == 200
    assert usage.completion_tokens == 500
    assert usage.total_tokens == 1500


def streamed_calls(chunks) -> dict[int, dict[str, str]]:
    """Tool calls reassembled from stream chunks, by index."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    return calls


def finish_reasons(chunks) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def test_kind_chat_with_exact_usage_and_cost(client, served, mock):
    raw = client.chat.completions.with_raw_response.create(model=served.usage, messages=MESSAGES)
    completion = raw.parse()
    assert_upstream(served.kind, mock.last(), stream=False)
    assert completion.object == "chat.completion"
    assert completion.model == reply_model(served, served.usage)
    assert completion.choices[0].message.role == "assistant"
    assert_mock_reply(completion.choices[0].message.content)
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert_served_usage(completion.usage)
    assert Decimal(raw.headers["x-tollgate-cost"]) == SERVED_COST
    assert usage_cost(completion.usage) == SERVED_COST, "the answer's usage carries what was charged"


def test_kind_system_prompt(client, served, mock):
    completion = client.chat.completions.create(
        model=served.plain,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Answer in English."},
            *MESSAGES,
        ],
    )
    assert_mock_reply(completion.choices[0].message.content)
    body = mock.last()["body"]
    assert upstream_system(served.kind, body) == ["Be brief.", "Answer in English."]
    # The mock counts the words of every text it was sent, system prompts included.
    assert completion.usage.prompt_tokens == PROMPT_TOKENS + 5


def test_kind_stream_with_and_without_include_usage(client, served, mock):
    chunks = list(
        client.chat.completions.create(
            model=served.usage, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert_upstream(served.kind, mock.last(), stream=True)
    *content, usage_chunk = chunks
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.choices and c.usage is None for c in content)
    assert_mock_reply("".join(c.choices[0].delta.content or "" for c in content))
    assert finish_reasons(chunks) == ["stop"] and content[-1].choices[0].finish_reason == "stop"
    assert usage_chunk.choices == []
    assert_served_usage(usage_chunk.usage)
    # The usage chunk waits for the settlement and carries the call's charge.
    assert usage_cost(usage_chunk.usage) == SERVED_COST

    plain = list(client.chat.completions.create(model=served.usage, messages=MESSAGES, stream=True))
    assert all(c.usage is None for c in plain), "a usage chunk reached a client that did not ask"
    assert all(c.choices for c in plain)
    assert_mock_reply("".join(c.choices[0].delta.content or "" for c in plain))


def test_kind_parallel_tool_calls_and_results(client, served, mock):
    tools = [WEATHER_TOOL, TIME_TOOL]
    first = client.chat.completions.create(model=served.usage, messages=WEATHER_QUESTION, tools=tools)
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.type == "function" and c.id for c in calls)
    assert len({c.id for c in calls}) == 2
    assert all(json.loads(c.function.arguments) == MOCK_TOOL_ARGUMENTS for c in calls)
    assert_served_usage(first.usage)

    reply = client.chat.completions.create(
        model=served.usage,
        tools=tools,
        messages=[
            *WEATHER_QUESTION,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": "10:00"},
        ],
    )
    # The mock answers the last result of the conversation.
    assert reply.choices[0].message.content == tool_result_reply(served.kind, "10:00")
    assert reply.choices[0].finish_reason == "stop"

    if served.kind in ("gemini", "bedrock"):
        return  # parallel_tool_calls=false has no Gemini or Bedrock setting: dropped, documented.
    single = client.chat.completions.create(
        model=served.usage, messages=WEATHER_QUESTION, tools=tools, parallel_tool_calls=False
    )
    assert [c.function.name for c in single.choices[0].message.tool_calls] == ["get_weather"]


def test_kind_streamed_tool_calls_and_results(client, served, mock):
    tools = [WEATHER_TOOL, TIME_TOOL]
    chunks = list(
        client.chat.completions.create(
            model=served.usage,
            messages=WEATHER_QUESTION,
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert_upstream(served.kind, mock.last(), stream=True)
    calls = streamed_calls(chunks)
    assert list(calls) == [0, 1]
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert all(c["id"] for c in calls.values()) and calls[0]["id"] != calls[1]["id"]
    assert all(json.loads(c["arguments"]) == MOCK_TOOL_ARGUMENTS for c in calls.values())
    assert finish_reasons(chunks) == ["tool_calls"]
    assert_served_usage(chunks[-1].usage)

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls.values()
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18 degrees"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "10:00"},
    ]
    answer = list(
        client.chat.completions.create(
            model=served.usage, tools=tools, messages=[*WEATHER_QUESTION, assistant, *results], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    assert text == tool_result_reply(served.kind, "10:00")
    assert finish_reasons(answer) == ["stop"]
    assert not streamed_calls(answer)


def test_kind_base64_image(client, served, mock):
    completion = client.chat.completions.create(
        model=served.plain,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": IMAGE_QUESTION},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}},
                ],
            }
        ],
    )
    assert_mock_reply(completion.choices[0].message.content)
    assert upstream_image(served.kind, mock.last()["body"]) == ("image/png", PNG_BASE64)
    # The mock counts words of text only: the image reached it as an image, not as text.
    assert completion.usage.prompt_tokens == len(IMAGE_QUESTION.split())


def test_kind_stop_reasons_and_max_completion_tokens(client, served, mock):
    limited = client.chat.completions.create(model=served.plain, messages=MESSAGES, max_completion_tokens=3)
    assert upstream_max_tokens(served.kind, mock.last()["body"]) == 3
    assert limited.choices[0].message.content == "Hello from the"
    assert limited.choices[0].finish_reason == "length"
    assert (limited.usage.prompt_tokens, limited.usage.completion_tokens) == (PROMPT_TOKENS, 3)

    legacy = client.chat.completions.create(model=served.plain, messages=MESSAGES, max_tokens=2)
    assert upstream_max_tokens(served.kind, mock.last()["body"]) == 2
    assert legacy.choices[0].message.content == "Hello from"
    assert legacy.choices[0].finish_reason == "length"

    chunks = list(
        client.chat.completions.create(
            model=served.plain,
            messages=MESSAGES,
            max_completion_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the"
    assert finish_reasons(chunks) == ["length"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (PROMPT_TOKENS, 3)

    # A reply with room to finish stops ("stop"); tool calls end with "tool_calls" (above).
    whole = client.chat.completions.create(model=served.plain, messages=MESSAGES, max_completion_tokens=100)
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens == REPLY_WORDS


def test_kind_mid_stream_failure_raises_in_the_sdk(client, served, env, admin, suffix):
    """A provider failing after the stream started: the SDK raises on the in-band error
    chunk, after the content that came before it."""
    tag = f"{served.kind}-{secrets.token_hex(3)}-{suffix}"
    url = env.provider_url(served.kind, "chunks=6,error_after=2")
    provider = admin.create_provider(f"kind-err-{tag}", url, kind=served.kind)
    model = admin.create_model(f"gpt-err-{tag}", provider["name"])["name"]
    text = ""
    with pytest.raises(openai.APIError) as exc:
        for chunk in client.chat.completions.create(model=model, messages=MESSAGES, stream=True):
            text += "".join(c.delta.content or "" for c in chunk.choices)
            assert all(c.finish_reason is None for c in chunk.choices), "a failed stream must not finish"
    assert text == "Hello from"
    assert exc.value.message
