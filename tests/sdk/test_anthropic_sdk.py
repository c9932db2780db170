"""Client conformance: the official ``anthropic`` Python SDK talking to Tollgate's Anthropic
dialect (``/v1/messages``, ``count_tokens``, models), served by the providers of every kind
this build has: converted for ``openai`` and ``azure-openai`` providers, passed through to
``anthropic`` ones. Each test runs once per provider kind (the ``served`` fixture).

The mock provider's answers are deterministic (see mock-provider/README.md): ``chunks``
words starting with "Hello"; with tools, calls with arguments {"location": "Paris"}; a
conversation ending with a tool result is answered "tool result received: <result>".
Usage numbers are fixed per provider with the mock's usage options, so they are checked
exactly, in Anthropic's convention: ``input_tokens`` excludes cache reads and writes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import anthropic
import pytest

from conftest import GRANT, Account, Admin, Env

#: Usage every reply of the ``served`` providers reports: 1000 prompt tokens of which 200
#: were read from the cache, 500 output tokens.
USAGE_SCENARIO = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200"
INPUT_TOKENS, CACHE_READ_TOKENS, OUTPUT_TOKENS = 800, 200, 500
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
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@dataclass(frozen=True)
class Served:
    """A priced model on a provider of one kind, whose replies report ``USAGE_SCENARIO``."""

    kind: str
    model: str
    chunks_model: str  # the same provider kind, replying with exactly 4 words


def provider_url(env: Env, kind: str, scenario: str) -> str:
    """The mock's base URL for a provider of ``kind`` playing ``scenario``."""
    if kind == "openai":
        return env.mock_base_url(scenario)
    return f"{env.mock_url}/s/{scenario}"


#: The upstream model every served model targets (conftest's default).
UPSTREAM_MODEL = "mock-gpt"


@pytest.fixture(scope="session", params=["openai", "anthropic", "azure-openai"])
def served(request, env: Env, admin: Admin, suffix: str) -> Served:
    kind = request.param
    names = []
    for scenario in (USAGE_SCENARIO, "chunks=4"):
        tag = f"{kind}-{secrets.token_hex(3)}-{suffix}"
        provider = admin.create_provider(f"anth-{tag}", provider_url(env, kind, scenario), kind=kind)
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
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST
    # Input usage is in message_start (Anthropic) or message_delta (converted: OpenAI reports
    # usage last); the SDK's accumulated message has it exact either way.
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
    assert answer.content[0].text == "tool result received: 22 C, sunny"


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
    url = provider_url(env, served.kind, "chunks=6,error_after=2")
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


def test_thinking_signatures_pass_through_byte_exact(client, served):
    """Extended thinking: an Anthropic provider's signed thinking block reaches the client as
    sent, and goes back on the next turn as the client sends it."""
    if served.kind != "anthropic":
        pytest.skip("only Anthropic providers sign thinking blocks")
    first = client.messages.create(
        model=served.model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    )
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature
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
