"""Client conformance: the official ``openai`` Python SDK's Responses API (``responses.create``,
``responses.stream``, function calling, structured output) against Tollgate's
``/v1/responses``, served by the providers of every kind: passed through to ``openai`` and
``azure-openai`` providers (the mock speaks the Responses API), converted for ``anthropic``,
``gemini`` and ``bedrock`` ones. Each test runs once per kind (the ``served`` fixture).

Usage is fixed per provider (1000 input tokens of which 200 cached, 500 output) and checked
exactly in the Responses convention (``input_tokens`` includes the cached ones), with the
cost the gateway charged.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal

import openai
import pytest

from conftest import GRANT, PROVIDER_KINDS, Account, tool_result_reply, usage_cost

USAGE_SCENARIO = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200"
#: 1000 × 2.5 + 500 × 10 credits per million tokens (no cache price: cached input costs input).
CALL_COST = Decimal("0.0075")
UPSTREAM_MODEL = "mock-gpt"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
QUESTION = "What is the weather in Paris?"
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Served:
    kind: str
    model: str


@pytest.fixture(scope="session", params=PROVIDER_KINDS)
def served(request, env, admin, suffix) -> Served:
    kind = request.param
    tag = f"{kind}-{secrets.token_hex(3)}-{suffix}"
    provider = admin.create_provider(f"resp-{tag}", env.provider_url(kind, USAGE_SCENARIO), kind=kind)
    return Served(kind=kind, model=admin.create_model(f"gpt-resp-{tag}", provider["name"])["name"])


@pytest.fixture
def account(admin, suffix) -> Account:
    tag = f"{suffix}-{secrets.token_hex(3)}"
    user = admin.create_user(f"resp-{tag}")
    admin.grant(user["id"], GRANT, idempotency_key=f"resp-{tag}")
    return Account(user=user, key=admin.create_key(user["id"], name=f"resp-key-{tag}"))


@pytest.fixture
def client(account, make_client) -> openai.OpenAI:
    return make_client(account.key["key"])


def assert_usage(usage) -> None:
    assert usage.input_tokens == 1000
    assert usage.input_tokens_details.cached_tokens == 200
    assert usage.output_tokens == 500
    assert usage.total_tokens == 1500


def assert_upstream(kind: str, last: dict, *, stream: bool) -> None:
    """The provider got the kind's own request: the Responses API itself, or its chat call."""
    path = last["path"]
    if kind == "openai":
        assert path.endswith("/v1/responses") and last["body"]["model"] == UPSTREAM_MODEL
    elif kind == "azure-openai":
        assert path.endswith("/openai/v1/responses") and last["body"]["model"] == UPSTREAM_MODEL
    elif kind == "anthropic":
        assert path.endswith("/v1/messages") and last["body"].get("stream", False) is stream
    elif kind == "gemini":
        assert ("streamGenerateContent" if stream else "generateContent") in path
    else:
        assert path.endswith("converse-stream" if stream else "converse")


def test_create_text_with_exact_usage_and_cost(client, served, mock, admin, account):
    raw = client.responses.with_raw_response.create(
        model=served.model, instructions="Be brief.", input="Say hello to the gateway", max_output_tokens=1000
    )
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text.startswith("Hello from the mock provider")
    assert_usage(response.usage)
    assert Decimal(raw.headers["x-tollgate-cost"]) == CALL_COST
    assert usage_cost(response.usage) == CALL_COST, "the answer's usage carries what was charged"
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST
    last = mock.last()
    assert_upstream(served.kind, last, stream=False)
    if served.kind == "anthropic":
        assert last["body"]["system"] == "Be brief."
        assert last["body"]["max_tokens"] == 1000


def test_stream_is_the_event_sequence_the_sdk_accumulates(client, served, mock, admin, account):
    with client.responses.stream(model=served.model, input="Say hello to the gateway") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert_upstream(served.kind, mock.last(), stream=True)
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert final.status == "completed"
    assert final.output_text.startswith("Hello from the mock provider")
    assert_usage(final.usage)
    # response.completed waits for the settlement and carries the call's charge.
    assert usage_cost(final.usage) == CALL_COST
    assert admin.wait_for_balance(account.user["id"], GRANT - CALL_COST) == GRANT - CALL_COST


def test_function_calling_round_trip(client, served):
    first = client.responses.create(model=served.model, input=QUESTION, tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].arguments) == {"location": "Paris"}
    assert calls[0].call_id
    follow_up = [
        {"role": "user", "content": QUESTION},
        *[c.model_dump(exclude_none=True) for c in calls],
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C"},
    ]
    second = client.responses.create(model=served.model, input=follow_up, tools=[WEATHER])
    assert second.output_text == tool_result_reply(served.kind, "18C")


def test_streamed_function_call(client, served):
    with client.responses.stream(model=served.model, input=QUESTION, tools=[WEATHER]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    [call] = [item for item in final.output if item.type == "function_call"]
    assert json.loads("".join(deltas)) == json.loads(call.arguments) == {"location": "Paris"}


def test_structured_output(client, served):
    text = {"format": {"type": "json_schema", "name": "answer", "schema": ANSWER_SCHEMA, "strict": True}}
    if served.kind == "bedrock":
        # Converse has no response format: refused rather than answered unstructured.
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model=served.model, input="Answer in JSON", text=text)
        assert "JSON" in refused.value.message or "json" in refused.value.message
        return
    response = client.responses.create(model=served.model, input="Answer in JSON", text=text)
    assert json.loads(response.output_text) == {"answer": "Hello"}


def test_converted_routes_refuse_stored_state_and_built_in_tools(client, served):
    if served.kind in ("openai", "azure-openai"):
        pytest.skip("passed through: the provider itself stores responses and runs built-in tools")
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=served.model, input="hi", previous_response_id="resp_123")
    assert "previous_response_id" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=served.model, input="hi", tools=[{"type": "web_search"}])
    assert "web_search" in refused.value.message
