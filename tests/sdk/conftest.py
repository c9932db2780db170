"""Fixtures for the client-conformance suites (the official OpenAI and Anthropic SDKs).

The Rust integration test starts the mock provider and Tollgate and sets:

- ``TOLLGATE_URL``: gateway root (the SDK's base_url is ``TOLLGATE_URL + "/v1"``),
- ``TOLLGATE_MASTER_KEY``: Bearer token for the management API under ``/api/v1``,
- ``MOCK_URL``: root of the mock provider,
- ``MOCK_AWS_SECRET_ACCESS_KEY``: the secret the mock verifies Bedrock SigV4 signatures
  with, in full; every Bedrock credential here carries it.

Everything the tests need (providers, models, users, keys) is created here through the
management API, with a random suffix in every name so reruns against one database do not
collide.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import openai
import pytest

#: The upstream model name the mock provider serves.
MOCK_UPSTREAM_MODEL = "mock-gpt"
#: The provider API key every test provider is configured with.
MOCK_PROVIDER_KEY = "sk-mock-1"
#: Credits per million tokens for every priced test model.
PRICING = {"input": 2.5, "output": 10}
#: Credits granted to the users that are expected to be able to pay.
GRANT = Decimal("10")
#: How long to wait for records written by the background batch writer.
POLL_TIMEOUT_S = 5.0
#: Scenario options of the billing provider: fixed usage of 1000 prompt / 500 completion tokens.
BILLING_SCENARIO = "prompt_tokens=1000,completion_tokens=500"
#: Scenario options of the passthrough provider: the default behaviour, but a path of its own
#: so the mock's ``/_last`` request can be recognised as this provider's.
PASSTHROUGH_SCENARIO = "latency_ms=0"

#: Every provider kind of this build; the suites run their cross-dialect tests once per kind.
PROVIDER_KINDS = ("openai", "anthropic", "azure-openai", "gemini", "bedrock")

T = TypeVar("T")


def usage_cost(usage: Any) -> Decimal:
    """The call's cost an answer's usage carries (``usage.cost``, OpenRouter's field): a JSON
    number in credits, which the SDKs keep as an extra field of their usage models."""
    cost = (usage.model_extra or {}).get("cost")
    assert isinstance(cost, (int, float)) and not isinstance(cost, bool), f"usage.cost is a number: {usage!r}"
    return Decimal(str(cost))


def poll(fetch: Callable[[], T], until: Callable[[T], bool], timeout: float = POLL_TIMEOUT_S) -> T:
    """Calls ``fetch`` until ``until(value)`` holds or ``timeout`` seconds pass; returns the
    last value fetched (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.1)


def tool_result_reply(kind: str, result: str) -> str:
    """What the mock answers a conversation ending with the tool result ``result``. Gemini
    takes a result as a JSON object (``functionResponse.response``), so the gateway sends a
    text result as ``{"result": text}``, which the mock quotes as JSON."""
    if kind == "gemini":
        result = json.dumps({"result": result}, separators=(",", ":"))
    return f"tool result received: {result}"


#: A 1×1 PNG, as clients send images inline, and a question about it (5 words for the mock).
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGE_QUESTION = "What is in this image?"


# -- what a provider of each kind received (the mock's ``/_last`` body) ---------------------


def upstream_image(kind: str, body: dict) -> tuple[str, str]:
    """(media type, base64 data) of the one image of an upstream request's first message."""
    if kind == "anthropic":
        [block] = [b for b in body["messages"][0]["content"] if b["type"] == "image"]
        assert block["source"]["type"] == "base64"
        return block["source"]["media_type"], block["source"]["data"]
    if kind == "gemini":
        [part] = [p["inlineData"] for p in body["contents"][0]["parts"] if "inlineData" in p]
        return part["mimeType"], part["data"]
    if kind == "bedrock":
        [image] = [b["image"] for b in body["messages"][0]["content"] if "image" in b]
        return f"image/{image['format']}", image["source"]["bytes"]
    [part] = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
    media, data = part["image_url"]["url"].removeprefix("data:").split(";base64,")
    return media, data


def upstream_max_tokens(kind: str, body: dict) -> int:
    """The output token limit of an upstream request, under the kind's name for it."""
    if kind == "anthropic":
        return body["max_tokens"]
    if kind == "gemini":
        return body["generationConfig"]["maxOutputTokens"]
    if kind == "bedrock":
        return body["inferenceConfig"]["maxTokens"]
    return body.get("max_completion_tokens", body.get("max_tokens"))


@dataclass(frozen=True)
class Env:
    tollgate_url: str
    master_key: str
    mock_url: str
    aws_secret_access_key: str

    @property
    def openai_base_url(self) -> str:
        return f"{self.tollgate_url}/v1"

    def mock_base_url(self, scenario: str | None = None) -> str:
        """The mock's OpenAI base URL, optionally for a scenario (``status=500``, ...)."""
        return f"{self.mock_url}/s/{scenario}/v1" if scenario else f"{self.mock_url}/v1"

    def provider_url(self, kind: str, scenario: str | None = None) -> str:
        """The base URL of a provider of ``kind`` on the mock: ``…/v1`` for ``openai``, the
        bare root (which the other kinds' paths start from) otherwise."""
        if kind == "openai":
            return self.mock_base_url(scenario)
        return f"{self.mock_url}/s/{scenario}" if scenario else self.mock_url

    def provider_key(self, kind: str) -> str:
        """A credential of ``kind`` the mock accepts: Bedrock's is the JSON of an AWS key
        pair and region (the mock checks the SigV4 signature made with it)."""
        if kind == "bedrock":
            return json.dumps(
                {
                    "access_key_id": "AKIDSDKSUITE",
                    "secret_access_key": self.aws_secret_access_key,
                    "region": "us-east-1",
                }
            )
        if kind == "gemini":
            return "gemini-sdk-key"
        return MOCK_PROVIDER_KEY


class Admin:
    """The management API (``/api/v1``), authenticated with the master key.

    Every method asserts the documented status code and returns the decoded JSON, so a setup
    failure names the endpoint and shows the gateway's error body.
    """

    def __init__(self, env: Env) -> None:
        self.env = env
        self.http = httpx.Client(
            base_url=f"{env.tollgate_url}/api/v1",
            headers={"Authorization": f"Bearer {env.master_key}"},
            timeout=10.0,
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200,),
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        resp = self.http.request(method, path, json=json, params=params, headers=headers)
        assert resp.status_code in expect, (
            f"{method} /api/v1{path}: expected {expect}, got {resp.status_code}: {resp.text}"
        )
        return resp.json() if resp.content else None

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST that creates an object: 201 with a top-level ``id``."""
        created = self.request("POST", path, expect=(201,), json=body)
        assert isinstance(created, dict) and created.get("id"), f"POST {path} gave {created!r}"
        return created

    # -- providers, credentials, models ------------------------------------------------------

    def create_provider(
        self, name: str, base_url: str, api_key: str | None = None, kind: str = "openai"
    ) -> dict:
        """A provider of ``kind`` with one credential (by default one of that kind the mock
        accepts, ``Env.provider_key``)."""
        if api_key is None:
            api_key = self.env.provider_key(kind)
        provider = self.create("/providers", {"name": name, "kind": kind, "base_url": base_url})
        assert provider["name"] == name
        assert provider["kind"] == kind
        assert provider["base_url"] == base_url
        self.add_credential(provider["id"], api_key)
        return provider

    def add_credential(self, provider_id: str, api_key: str, name: str = "primary") -> dict:
        resp = self.http.post(
            f"/providers/{provider_id}/credentials", json={"name": name, "api_key": api_key}
        )
        assert resp.status_code == 201, f"add credential: {resp.status_code}: {resp.text}"
        assert api_key not in resp.text, "the credential response leaks the plaintext provider key"
        assert self.env.aws_secret_access_key not in resp.text, "the response leaks the AWS secret"
        credential = resp.json()
        assert credential["id"] and credential["provider_id"] == provider_id
        return credential

    def create_model(
        self, name: str, provider: str, upstream_model: str = MOCK_UPSTREAM_MODEL
    ) -> dict:
        """A model with one target (``provider`` is the provider's name or id), priced at
        ``PRICING``."""
        model = self.create(
            "/models",
            {
                "name": name,
                "targets": [{"provider": provider, "model": upstream_model}],
                "pricing": PRICING,
            },
        )
        assert model["name"] == name
        return model

    # -- users, credits, keys ----------------------------------------------------------------

    def create_user(self, name: str) -> dict:
        user = self.create("/users", {"name": name, "email": f"{name}@example.test"})
        assert user["name"] == name
        assert Decimal(user["balance"]) == 0
        return user

    def grant(self, user_id: str, amount: Decimal, idempotency_key: str) -> dict:
        """A credit grant; repeating ``idempotency_key`` returns the first entry."""
        return self.request(
            "POST",
            f"/users/{user_id}/credits",
            expect=(200, 201),
            json={"amount": str(amount), "kind": "grant", "idempotency_key": idempotency_key},
        )

    def get_user(self, user_id: str) -> dict:
        return self.request("GET", f"/users/{user_id}")

    def balance(self, user_id: str) -> Decimal:
        balance = self.get_user(user_id)["balance"]
        assert isinstance(balance, str), f"balance must be a decimal string, got {balance!r}"
        return Decimal(balance)

    def wait_for_balance(self, user_id: str, expected: Decimal) -> Decimal:
        """The user's balance once it equals ``expected`` (or the last one seen)."""
        return poll(lambda: self.balance(user_id), lambda b: b == expected)

    def create_key(self, user_id: str, name: str, models: list[str] | None = None) -> dict:
        body: dict[str, Any] = {"user_id": user_id, "name": name}
        if models is not None:
            body["models"] = models
        key = self.create("/keys", body)
        assert key["key"].startswith("tg-"), f"key secret {key['key']!r} does not start with tg-"
        return key

    def revoke_key(self, key_id: str) -> None:
        self.request("DELETE", f"/keys/{key_id}", expect=(200, 204))

    # -- usage records -----------------------------------------------------------------------

    def calls(self, key_id: str, limit: int = 100) -> list[dict]:
        page = self.request("GET", "/calls", params={"key_id": key_id, "limit": limit})
        assert "next_cursor" in page
        return page["data"]

    def wait_for_call(self, key_id: str, request_id: str) -> dict:
        """The finished call record (status no longer ``processing``) of ``request_id``."""

        def finished(records: list[dict]) -> bool:
            return any(
                r["request_id"] == request_id and r["status"] != "processing" for r in records
            )

        records = poll(lambda: self.calls(key_id), finished)
        matching = [r for r in records if r["request_id"] == request_id]
        assert matching, f"no call record with request_id {request_id!r} within {POLL_TIMEOUT_S}s"
        assert len(matching) == 1, f"one call must have one record, got {matching!r}"
        return matching[0]

    def me(self, tollgate_key: str) -> dict:
        """``GET /api/v1/me`` authenticated with a Tollgate key instead of the master key."""
        return self.request("GET", "/me", headers={"Authorization": f"Bearer {tollgate_key}"})


class Mock:
    """The mock provider's inspection endpoints."""

    def __init__(self, env: Env) -> None:
        self.http = httpx.Client(base_url=env.mock_url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def stats(self) -> dict:
        resp = self.http.get("/_stats")
        resp.raise_for_status()
        return resp.json()

    def chat_requests(self) -> int:
        """How many chat completion requests the mock has received (all scenarios)."""
        return self.stats()["by_path"].get("/v1/chat/completions", 0)

    def last(self) -> dict:
        """The last model request the mock received: method, path, headers, body."""
        resp = self.http.get("/_last")
        resp.raise_for_status()
        return resp.json()


@dataclass(frozen=True)
class Gateway:
    """The objects every test shares, created once per session."""

    suffix: str
    provider: dict  # openai-kind provider on MOCK_URL/v1, credential sk-mock-1
    failing_provider: dict  # on MOCK_URL/s/status=500/v1
    model: str  # "gpt-mock-<suffix>" -> provider / mock-gpt, priced
    failing_model: str  # "gpt-mock-fail-<suffix>" -> failing provider / mock-gpt, priced
    user: dict  # holds GRANT credits
    key: dict  # the user's unrestricted key (secret in key["key"])
    restricted_key: dict  # the user's key restricted to [model]
    broke_user: dict  # 0 credits
    broke_key: dict  # the broke user's key


@dataclass(frozen=True)
class Account:
    """A user with its own key, for tests that measure the balance."""

    user: dict
    key: dict


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def env() -> Env:
    names = ("TOLLGATE_URL", "TOLLGATE_MASTER_KEY", "MOCK_URL", "MOCK_AWS_SECRET_ACCESS_KEY")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: these tests are run by `cargo test`, which starts "
            "the gateway and the mock provider",
            pytrace=False,
        )
    return Env(
        tollgate_url=os.environ["TOLLGATE_URL"].rstrip("/"),
        master_key=os.environ["TOLLGATE_MASTER_KEY"],
        mock_url=os.environ["MOCK_URL"].rstrip("/"),
        aws_secret_access_key=os.environ["MOCK_AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def suffix() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def admin(env: Env) -> Iterator[Admin]:
    admin = Admin(env)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def mock(env: Env) -> Iterator[Mock]:
    mock = Mock(env)
    yield mock
    mock.close()


@pytest.fixture(scope="session")
def make_client(env: Env) -> Iterator[Callable[[str], openai.OpenAI]]:
    """Builds SDK clients for a Tollgate key. Retries are off so every status the gateway
    sends reaches the test as-is and failing calls are not repeated."""
    clients: list[openai.OpenAI] = []

    def make(api_key: str) -> openai.OpenAI:
        client = openai.OpenAI(
            base_url=env.openai_base_url, api_key=api_key, max_retries=0, timeout=30.0
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def gateway(env: Env, admin: Admin, suffix: str) -> Gateway:
    provider = admin.create_provider(f"mock-{suffix}", env.mock_base_url())
    failing_provider = admin.create_provider(f"mockfail-{suffix}", env.mock_base_url("status=500"))
    model = admin.create_model(f"gpt-mock-{suffix}", provider["name"])["name"]
    failing_model = admin.create_model(f"gpt-mock-fail-{suffix}", failing_provider["name"])["name"]

    user = admin.create_user(f"sdk-user-{suffix}")
    admin.grant(user["id"], GRANT, idempotency_key=f"sdk-setup-{suffix}")
    key = admin.create_key(user["id"], name=f"sdk-key-{suffix}")
    restricted_key = admin.create_key(user["id"], name=f"sdk-restricted-{suffix}", models=[model])

    broke_user = admin.create_user(f"sdk-broke-{suffix}")
    broke_key = admin.create_key(broke_user["id"], name=f"sdk-broke-key-{suffix}")

    return Gateway(
        suffix=suffix,
        provider=provider,
        failing_provider=failing_provider,
        model=model,
        failing_model=failing_model,
        user=user,
        key=key,
        restricted_key=restricted_key,
        broke_user=broke_user,
        broke_key=broke_key,
    )


@pytest.fixture(scope="session")
def client(gateway: Gateway, make_client: Callable[[str], openai.OpenAI]) -> openai.OpenAI:
    """SDK client with the funded user's unrestricted key."""
    return make_client(gateway.key["key"])


@pytest.fixture(scope="session")
def restricted_client(gateway: Gateway, make_client: Callable[[str], openai.OpenAI]) -> openai.OpenAI:
    """SDK client with the key restricted to ``gateway.model``."""
    return make_client(gateway.restricted_key["key"])


@pytest.fixture(scope="session")
def broke_client(gateway: Gateway, make_client: Callable[[str], openai.OpenAI]) -> openai.OpenAI:
    """SDK client of the user with zero credits."""
    return make_client(gateway.broke_key["key"])


@pytest.fixture(scope="session")
def billing_provider(env: Env, admin: Admin, suffix: str) -> dict:
    """A provider whose every reply reports 1000 prompt and 500 completion tokens."""
    return admin.create_provider(f"mockbill-{suffix}", env.mock_base_url(BILLING_SCENARIO))


@pytest.fixture(scope="session")
def billing_model(admin: Admin, suffix: str, billing_provider: dict) -> str:
    # The target names the provider by id here (the other models use the name).
    return admin.create_model(f"gpt-mock-bill-{suffix}", billing_provider["id"])["name"]


@pytest.fixture
def billing_account(admin: Admin, suffix: str) -> Account:
    """A fresh user holding exactly GRANT credits, with one key; no other test touches it."""
    tag = f"{suffix}-{secrets.token_hex(3)}"
    user = admin.create_user(f"sdk-bill-{tag}")
    admin.grant(user["id"], GRANT, idempotency_key=f"sdk-bill-{tag}")
    key = admin.create_key(user["id"], name=f"sdk-bill-key-{tag}")
    return Account(user=user, key=key)


@pytest.fixture(scope="session")
def passthrough_provider(env: Env, admin: Admin, suffix: str) -> dict:
    """A provider with a mock path of its own, so ``/_last`` is recognisably its request."""
    return admin.create_provider(f"mockpass-{suffix}", env.mock_base_url(PASSTHROUGH_SCENARIO))


@pytest.fixture(scope="session")
def passthrough_model(admin: Admin, suffix: str, passthrough_provider: dict) -> str:
    return admin.create_model(f"gpt-mock-pass-{suffix}", passthrough_provider["name"])["name"]
