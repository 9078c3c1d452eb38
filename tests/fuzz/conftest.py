"""The real ``bastion serve`` for the fuzzer: the three provider fakes and the simulator behind it.

The provider keys, the admin key and the guards' canary look like real secrets, so the fuzz test
can assert that no answer ever contains one. Limits and every guard are on, so fuzzed input
goes through their code too (limits high enough never to refuse this traffic). A team, a user,
a key and one answered request exist before fuzzing starts, so the fuzzer's ids can hit real
records (not only 404s).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.base import FakeProvider
from tests.fakes.gemini_fake import GeminiFake
from tests.fakes.openai_fake import OpenAIFake

CLIENT_KEY = "sk-bastion-fuzz-client-0123456789"
ADMIN_KEY = "sk-bastion-fuzz-ADMIN-SECRET-4d1c9b"
PROVIDER_SECRETS = {
    "openai": "sk-test-SECRET-9f8e7d6c5b4a",
    "anthropic": "sk-ant-test-SECRET-1a2b3c4d5e",
    "gemini": "AIza-test-SECRET-6f7a8b9c0d",
}
CANARY = "bst-canary-SECRET-fuzz-5e6f7a8b9c0d"
#: what no answer may contain (the client key is the caller's own, but is never echoed either)
SECRETS = (ADMIN_KEY, CLIENT_KEY, *PROVIDER_SECRETS.values(), CANARY)
# the first two are named like the description's examples, which the coverage phase builds its
# valid requests from; one model per upstream, so fuzzed input goes through every translation
CHAT_MODELS = ("gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "simulated")
EMBEDDING_MODEL = "text-embedding-3-small"
TEAM_ID = "fuzz-team"
USER_ID = "fuzz-user"
#: the x-request-id of the answered request made before fuzzing (the gateway keeps a client's id)
SEEDED_REQUEST_ID = "req_fuzz_seeded_0001"


@dataclass(frozen=True)
class FuzzTarget:
    server: Server
    key_id: str  # the key created before fuzzing (key ids are random)


def fuzz_config(fakes: dict[str, FakeProvider]) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  admin_key: ${{FUZZ_ADMIN_KEY}}
  max_body_bytes: 65536
  graceful_shutdown_seconds: 2
  access_log: true
providers:
  openai:
    type: openai
    base_url: {fakes["openai"].url}/v1
    api_key: ${{FUZZ_OPENAI_KEY}}
    read_timeout: 5
  anthropic:
    type: anthropic
    base_url: {fakes["anthropic"].url}
    api_key: ${{FUZZ_ANTHROPIC_KEY}}
    read_timeout: 5
  gemini:
    type: gemini
    base_url: {fakes["gemini"].url}/v1beta
    api_key: ${{FUZZ_GEMINI_KEY}}
    read_timeout: 5
  sim:
    type: simulator
    seed: 11
models:
  {CHAT_MODELS[0]}: {{provider: openai, model: gpt-4o-mini}}
  {CHAT_MODELS[1]}: {{provider: anthropic, model: claude-sonnet-4-5}}
  {CHAT_MODELS[2]}: {{provider: gemini, model: gemini-2.5-flash}}
  {CHAT_MODELS[3]}: {{provider: sim, model: sim-1}}
  {EMBEDDING_MODEL}: {{provider: openai, model: text-embedding-3-small, kind: embeddings}}
limits:
  keys: {{requests_per_minute: 1000000, tokens_per_minute: 100000000000, budget: {{day: 1000000}}}}
  end_users: {{requests_per_minute: 1000000, max_concurrent: 100}}
guards:
  injection: {{mode: block}}
  pii: {{mode: mask}}
  json_schema: {{mode: block, retries: 1}}
  moderation: {{mode: block, categories: {{weapons: ["pipe bomb", "re:\\bbomb\\b"]}}}}
  pii_leak: {{mode: redact}}
  canary: {{mode: block, token: "{CANARY}"}}
"""


def _seed(url: str) -> str:
    """Create the team, user and key, and make one request; return the key's id."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/admin/teams", headers=admin, json={"id": TEAM_ID}).raise_for_status()
        client.post(
            "/admin/users", headers=admin, json={"id": USER_ID, "team_id": TEAM_ID}
        ).raise_for_status()
        key = client.post("/admin/keys", headers=admin, json={"name": "fuzz", "user_id": USER_ID})
        key.raise_for_status()
        chat = client.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {CLIENT_KEY}", "x-request-id": SEEDED_REQUEST_ID},
            json={"model": CHAT_MODELS[-1], "messages": [{"role": "user", "content": "hello"}]},
        )
        chat.raise_for_status()
    return key.json()["id"]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    fakes: dict[str, FakeProvider] = {
        "openai": OpenAIFake().start(),
        "anthropic": AnthropicFake().start(),
        "gemini": GeminiFake().start(),
    }
    env = {"FUZZ_ADMIN_KEY": ADMIN_KEY} | {f"FUZZ_{n.upper()}_KEY": k for n, k in PROVIDER_SECRETS.items()}
    try:
        server = start_server(fuzz_config(fakes), tmp_path_factory.mktemp("fuzz"), env)
        try:
            yield FuzzTarget(server=server, key_id=_seed(server.url))
        finally:
            stop_server(server)
    finally:
        for fake in fakes.values():
            fake.stop()
