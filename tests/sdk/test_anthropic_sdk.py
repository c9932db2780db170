"""Client conformance: the official ``anthropic`` Python SDK talking to Tollgate's Anthropic
dialect (``/v1/messages``, ``count_tokens``, models), served by the providers of every kind
this build has: converted for ``openai``, ``azure-openai``, ``gemini`` and ``bedrock``
providers, passed through to ``anthropic`` ones. Each test runs once per provider kind (the
``served`` fixture).

The mock provider's answers are deterministic (see mock-provider/README.md): ``chunks``
words starting with "Hello"; with tools, calls with arguments {"location": "Paris"}; a
conversation ending with a tool result is answered "tool result received: <result>".
Usage numbers are fixed per provider with the mock's usage options, so they are checked
exactly, in Anthropic's convention: ``input_tokens`` excludes cache reads and writes.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import anthropic
import pytest

from conftest import (
    GRANT,
    IMAGE_QUESTION,
    PNG_BASE64,
    PROVIDER_KINDS,
    Account,
    Admin,
    Env,
    tool_result_reply,
    upstream_image,
    usage_cost,
    upstream_max_tokens,
)

#: Usage every reply of the ``served`` providers reports: 1000 prompt tokens of which 200
#: were read from the cache, 500 output tokens.
USAGE_SCENARIO = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200"
INPUT_TOKENS, CACHE_READ_TOKENS, OUTPUT_TOKENS = 800, 200, 500
#: Provider kinds that report the input counts before the first content (in Anthropic's
#: message_start, in Gemini's running usageMetadata).
INPUT_KNOWN_AT_START = ("anthropic", "gemini")
#: (800 + 200) × 2.5 + 500 × 10 credits per million tokens.
CALL_COST = Decimal("0.0075")

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
TIME_TOOL = {**WEATHER_TOOL, "name": "get_time", "description": "Local time in a city"}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@dataclass(frozen=True)
class Served:
    """A priced model on a provider of one kind, whose replies report ``USAGE_SCENARIO``."""

    kind: str
    model: str
    chunks_model: str  # the same provider kind, replying with exactly 4 words


#: The upstream model every served model targets (conftest's default).
UPSTREAM_MODEL = "mock-gpt"


@pytest.fixture(scope="session", params=PROVIDER_KINDS)
def served(request, env: Env, admin: Admin, suffix: str) -> Served:
    kind = request.param
    names = []
    for scenario in (USAGE_SCENARIO, "chunks=4"):
        tag = f"{kind}-{secrets.token_hex(3)}-{suffix}"
        provider = admin.create_provider(f"anth-{tag}", env.provider_url(kind, scenario), kind=kind)
        names.append(admin.create_model(f"claude-{tag}", provider["name"])["name"])
    return Served(kind=kind, model=names[0], chunks_model=names[1])


@pytest.fixture(scope="session")
def make_anthropic(env: Env) -> Iterator[Callable[[str], anthropic.Anthropic]]:
    """Builds SDK clients for a Tollgate key; retries off so every status reaches the test."""
    clients: list[anthropic.Anthropic] = []

    def make(api_key: str) -> anthropic.Anthropic:
        client = anthropic.Anthropic(
            base_url=env.tollgate_url, api_key=api_key, max_retries=0, timeout=30.0
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def account(admin: Admin, suffix: str) -> Account:
    """A fresh user holding exactly GRANT credits, with one key."""
    tag = f"{suffix}-{secrets.token_hex(3)}"
    user = admin.create_user(f"anth-{tag}")
    admin.grant(user["id"], GRANT, idempotency_key=f"anth-{tag}")
    return Account(user=user, key=admin.create_key(user["id"], name=f"anth-key-{tag}"))


@pytest.fixture
def client(account: Account, make_anthropic) -> anthropic.Anthropic:
    return make_anthropic(account.key["key"])


def assert_usage(usage) -> None:
    assert usage.input_tokens == INPUT_TOKENS
    assert usage.cache_read_input_tokens == CACHE_READ_TOKENS
    assert usage.output_tokens == OUTPUT_TOKENS


def test_text_message_is_billed_exactly(client, served, admin, account):
    message = client.messages.create(
        model=served.model,
        max_tokens=1000,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    # A converted answer names the requested model; a passthrough relays the upstream's.
    assert message.model in {served.model, UPSTREAM_MODEL}
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("Hello")
    assert message.stop_reason == "end_turn"
    assert_usage(message.usage)
    assert usage_cost(message.usage) == CALL_COST, "the answer's usage carries what was charged"
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST
    raw = client.messages.with_raw_response.create(
        model=served.model, max_tokens=10, messages=[{"role": "user", "content": "again"}]
    )
    assert Decimal(raw.headers["x-tollgate-cost"]) == CALL_COST


def test_system_prompt_as_blocks(client, served):
    message = client.messages.create(
        model=served.model,
        max_tokens=100,
        system=[
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
    )
    assert message.content[0].text.startswith("Hello")


def test_stream_with_the_sdk_helpers(client, served, admin, account):
    with client.messages.stream(
        model=served.chunks_model, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the mock"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4
    assert final.model in {served.chunks_model, UPSTREAM_MODEL}


def test_raw_stream_events_and_exact_usage(client, served, admin, account):
    events = list(
        client.messages.create(
            model=served.model, max_tokens=1000, stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    kinds = [e.type for e in events if e.type != "ping"]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds[-2] == "message_delta"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == OUTPUT_TOKENS
    # The final usage carries the call's charge, settled before the event went out.
    assert usage_cost(delta.usage) == CALL_COST
    # message_start has the input counts when the provider has reported them by then
    # (Anthropic; Gemini's first chunk); OpenAI and Bedrock report usage only at the end.
    start = events[0].message.usage
    if served.kind in INPUT_KNOWN_AT_START:
        assert (start.input_tokens, start.cache_read_input_tokens) == (INPUT_TOKENS, CACHE_READ_TOKENS)
    else:
        assert (start.input_tokens, start.output_tokens) == (0, 0)
    # A converted stream repeats the final input and cache counts in message_delta (the
    # Anthropic passthrough relays the provider's own message_delta).
    if served.kind != "anthropic":
        assert_usage(delta.usage)
        assert delta.usage.cache_creation_input_tokens == 0
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST
    # The SDK's accumulated message has the input usage exact either way.
    with client.messages.stream(
        model=served.model, max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert_usage(stream.get_final_message().usage)


def test_tool_use_and_tool_result_round_trip(client, served):
    message = client.messages.create(
        model=served.model, max_tokens=200, tools=[WEATHER_TOOL], messages=QUESTION
    )
    assert message.stop_reason == "tool_use"
    calls = [b for b in message.content if b.type == "tool_use"]
    assert calls and calls[0].name == "get_weather"
    assert calls[0].input == {"location": "Paris"}
    answer = client.messages.create(
        model=served.model,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[
            *QUESTION,
            {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in message.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c.id, "content": "22 C, sunny"} for c in calls
                ],
            },
        ],
    )
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == tool_result_reply(served.kind, "22 C, sunny")


def test_streamed_tool_use_reassembles(client, served):
    with client.messages.stream(
        model=served.model,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=QUESTION,
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["tool_use"]
    assert final.content[0].input == {"location": "Paris"}


def test_parallel_tool_use_streamed_and_not_with_results(client, served):
    tools = [WEATHER_TOOL, TIME_TOOL]
    message = client.messages.create(model=served.model, max_tokens=200, tools=tools, messages=QUESTION)
    assert message.stop_reason == "tool_use"
    calls = [b for b in message.content if b.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [("get_weather", {"location": "Paris"}), ("get_time", {"location": "Paris"})]
    assert len({c.id for c in calls}) == 2
    with client.messages.stream(model=served.model, max_tokens=200, tools=tools, messages=QUESTION) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    streamed = [b for b in final.content if b.type == "tool_use"]
    assert [(b.name, b.input) for b in streamed] == [(c.name, c.input) for c in calls]
    assert len({b.id for b in streamed}) == 2
    answer = client.messages.create(
        model=served.model,
        max_tokens=200,
        tools=tools,
        messages=[
            *QUESTION,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": streamed[0].id, "content": "22 C, sunny"},
                    {"type": "tool_result", "tool_use_id": streamed[1].id, "content": "10:00"},
                ],
            },
        ],
    )
    # The mock answers the last result of the conversation.
    assert answer.content[0].text == tool_result_reply(served.kind, "10:00")
    assert answer.stop_reason == "end_turn"


def test_max_tokens_stop_reason(client, served, mock):
    body = {"model": served.chunks_model, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
    message = client.messages.create(**body)
    assert upstream_max_tokens(served.kind, mock.last()["body"]) == 2
    assert [b.text for b in message.content] == ["Hello from"]
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2
    with client.messages.stream(**body) as stream:
        final = stream.get_final_message()
    assert [b.text for b in final.content] == ["Hello from"]
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 2


def test_base64_image(client, served, mock):
    message = client.messages.create(
        model=served.chunks_model,
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": IMAGE_QUESTION},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}},
                ],
            }
        ],
    )
    assert message.content[0].text == "Hello from the mock"
    assert upstream_image(served.kind, mock.last()["body"]) == ("image/png", PNG_BASE64)
    # The mock counts words of text only: the image reached it as an image, not as text.
    assert message.usage.input_tokens == len(IMAGE_QUESTION.split())


def test_count_tokens(client, served):
    count = client.messages.count_tokens(
        model=served.model, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert isinstance(count.input_tokens, int) and count.input_tokens > 0


def test_models_list(client, served):
    ids = [m.id for m in client.models.list()]
    assert served.model in ids
    assert ids == sorted(ids)


def test_errors_map_to_sdk_exceptions(make_anthropic, served, admin, account, suffix):
    body = {"model": served.model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.AuthenticationError) as e:
        make_anthropic("tg-not-a-key").messages.create(**body)
    assert e.value.body["error"]["type"] == "authentication_error"

    client = make_anthropic(account.key["key"])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(**{**body, "model": f"no-such-{suffix}"})
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(**{**body, "max_tokens": 0})
    assert e.value.body["error"]["type"] == "invalid_request_error"

    restricted = admin.create_key(account.user["id"], name=f"anth-r-{secrets.token_hex(3)}", models=["other"])
    with pytest.raises(anthropic.PermissionDeniedError):
        make_anthropic(restricted["key"]).messages.create(**body)

    broke = admin.create_user(f"anth-broke-{secrets.token_hex(3)}")
    broke_key = admin.create_key(broke["id"], name=f"anth-broke-{secrets.token_hex(3)}")
    with pytest.raises(anthropic.APIStatusError) as e:
        make_anthropic(broke_key["key"]).messages.create(**body)
    assert e.value.status_code == 402
    assert e.value.body["error"]["type"] == "billing_error"

    limited = admin.create_key(account.user["id"], name=f"anth-l-{secrets.token_hex(3)}")
    admin.request("PATCH", f"/keys/{limited['id']}", json={"rpm": 1})
    limited_client = make_anthropic(limited["key"])
    limited_client.messages.create(**body)
    with pytest.raises(anthropic.RateLimitError) as e:
        limited_client.messages.create(**body)
    assert e.value.response.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert e.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert 1 <= int(e.value.response.headers["retry-after"]) <= 60

    # A spend budget that no call fits: 402 naming the budget.
    budgeted = admin.create_key(account.user["id"], name=f"anth-b-{secrets.token_hex(3)}")
    admin.request("PATCH", f"/keys/{budgeted['id']}", json={"budget": "0.000000001"})
    with pytest.raises(anthropic.APIStatusError) as e:
        make_anthropic(budgeted["key"]).messages.create(**body)
    assert e.value.status_code == 402
    assert e.value.body["error"]["type"] == "billing_error"
    assert "spend budget of this API key" in e.value.body["error"]["message"]


def test_unpriced_model_is_refused_naming_it(make_anthropic, env, admin, account):
    name = f"anth-unpriced-{secrets.token_hex(3)}"
    provider = admin.create_provider(name, env.mock_base_url(USAGE_SCENARIO))
    model = f"{provider['name']}/no-price-anywhere"
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.BadRequestError) as e:
        make_anthropic(account.key["key"]).messages.create(**body)
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert model in e.value.body["error"]["message"]


def test_mid_stream_failure_raises_in_the_sdk(make_anthropic, served, admin, env, account):
    tag = secrets.token_hex(3)
    url = env.provider_url(served.kind, "chunks=6,error_after=2")
    provider = admin.create_provider(f"anth-err-{tag}", url, kind=served.kind)
    model = admin.create_model(f"claude-err-{tag}", provider["name"])["name"]
    client = make_anthropic(account.key["key"])
    seen = []
    with pytest.raises(anthropic.APIStatusError) as e:
        for event in client.messages.create(
            model=model, max_tokens=100, stream=True, messages=[{"role": "user", "content": "hi"}]
        ):
            seen.append(event.type)
    assert seen[0] == "message_start"
    assert "message_stop" not in seen
    assert e.value.body["error"]["type"].endswith("_error")


def test_thinking_signatures_pass_through_byte_exact(client, served, mock):
    """Extended thinking: a provider's signed thinking (Anthropic's ``signature``, Gemini's
    ``thoughtSignature``, Bedrock's ``reasoningText.signature``) reaches the client as sent,
    and goes back upstream byte-exact on the next turn as the client replays it."""
    if served.kind in ("openai", "azure-openai"):
        pytest.skip("OpenAI-protocol providers send no signed thinking")
    first = client.messages.create(
        model=served.model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    )
    assert first.content[0].type == "thinking"
    thinking = "".join(b.thinking for b in first.content if b.type == "thinking")
    assert thinking == "Let me think this through."
    signatures = [b.signature for b in first.content if b.type == "thinking" and b.signature]
    assert len(signatures) == 1, first.content
    assert first.content[-1].type == "text" and first.content[-1].text.startswith("Hello")
    # Streamed, the same blocks (the mock signs every answer afresh).
    with client.messages.stream(
        model=served.model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    ) as stream:
        streamed = stream.get_final_message()
    shape = lambda m: [(b.type, getattr(b, "thinking", None), bool(getattr(b, "signature", None))) for b in m.content]
    assert shape(streamed) == shape(first)
    assert [b.text for b in streamed.content if b.type == "text"] == [b.text for b in first.content if b.type == "text"]
    [streamed_signature] = [b.signature for b in streamed.content if b.type == "thinking" and b.signature]
    assert base64.b64decode(streamed_signature).startswith(b"mock-thinking-signature-")
    second = client.messages.create(
        model=served.model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            {"role": "user", "content": "think"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": "again"},
        ],
    )
    assert second.stop_reason == "end_turn"
    # The mock's signatures hold "+", "/" and "=": any re-encoding would show here.
    assert signatures[0] in json.dumps(mock.last()["body"])


#: A conversation as Claude Code sends it today: system-role entries inside ``messages``.
CLAUDE_CODE_TURNS = [
    {"role": "user", "content": "Say hello"},
    {"role": "system", "content": "Reminder: be brief."},
    {"role": "assistant", "content": "Hello."},
    {"role": "system", "content": [{"type": "text", "text": "Now in plan mode."}]},
    {"role": "user", "content": "Again"},
]


def texts(parts: list, key: str = "text") -> list[str]:
    return [p[key] for p in parts if key in p]


def test_system_role_messages_adaptive_thinking_and_output_config(client, served, mock, admin, account):
    """Claude Code's current request shape is answered on every kind: system-role entries
    stay where they were said (Gemini: as user text; Bedrock: in ``system``, in order),
    adaptive thinking and ``output_config.effort`` are accepted, ``context_management`` is
    dropped where no provider has it, and a passthrough keeps all of it."""
    message = client.messages.create(
        model=served.model,
        max_tokens=1000,
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=CLAUDE_CODE_TURNS,
        thinking={"type": "adaptive"},
        output_config={"effort": "high"},
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}},
        metadata={"user_id": json.dumps({"device_id": "d1", "session_id": "s1"})},
    )
    [text] = [b for b in message.content if b.type == "text"]
    assert text.text.startswith("Hello")
    assert_usage(message.usage)
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST
    body = mock.last()["body"]
    if served.kind == "anthropic":
        assert [m["role"] for m in body["messages"]] == [m["role"] for m in CLAUDE_CODE_TURNS]
        assert body["thinking"] == {"type": "adaptive"}
        assert body["output_config"] == {"effort": "high"}
        assert "context_management" in body
    elif served.kind == "gemini":
        assert texts(body["systemInstruction"]["parts"]) == ["You are terse."]
        turns = [(c["role"], texts(c["parts"])) for c in body["contents"]]
        assert turns == [
            ("user", ["Say hello", "Reminder: be brief."]),
            ("model", ["Hello."]),
            ("user", ["Now in plan mode.", "Again"]),
        ]
    elif served.kind == "bedrock":
        assert texts(body["system"]) == ["You are terse.", "Reminder: be brief.", "Now in plan mode."]
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    else:
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["system", "user", "system", "assistant", "system", "user"]
        assert body["messages"][2]["content"] == "Reminder: be brief."
        # mock-gpt is no OpenAI reasoning model: no reasoning setting is sent to it.
        assert "reasoning_effort" not in body
    assert "context_management" not in body or served.kind == "anthropic"


def test_streamed_adaptive_thinking_with_effort(client, served):
    with client.messages.stream(
        model=served.model,
        max_tokens=1000,
        messages=CLAUDE_CODE_TURNS,
        thinking={"type": "adaptive"},
        output_config={"effort": "low"},
    ) as stream:
        final = stream.get_final_message()
    [text] = [b for b in final.content if b.type == "text"]
    assert text.text.startswith("Hello")
    assert final.stop_reason == "end_turn"
    assert_usage(final.usage)
