"""Feedback end to end: ``POST /v1/feedback`` on the real server, its report, and the A/B comparison.

Chat requests go through the official SDKs; feedback and the admin API through httpx. The
ledger flushes only once a minute here, so every score below finds its request only because
the feedback endpoint flushes the ledger queue when the row is not stored yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Fakes, Server, start_server, stop_server
from tests.e2e.limits_support import (
    ADMIN_KEY,
    PROVIDER_ENV,
    AdminClient,
    claude,
    metric_value,
    oai,
    providers_yaml,
)


def feedback_yaml(fakes: Fakes, tmp: Any) -> str:
    return f"""
server:
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
storage:
  url: sqlite:///{tmp}/bastion.db
  ledger_flush_ms: 60000
routing:
  aliases:
    chat-ab:
      variants:
        - {{name: control, model: gpt-fake, weight: 50}}
        - {{name: candidate, model: claude-fake, weight: 50}}
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
"""


@pytest.fixture(scope="module")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("feedback")
    running = start_server(feedback_yaml(fakes, tmp), tmp, env=PROVIDER_ENV)
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def admin(gateway: Server) -> Iterator[AdminClient]:
    client = AdminClient(gateway.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def keys(admin: AdminClient) -> tuple[str, str]:
    """Two keys of different teams: the one that makes the requests, and another."""
    admin.create_team("quality")
    first, _ = admin.create_key(name="app", team_id="quality")
    second, _ = admin.create_key(name="other app")
    return first, second


def chat(gateway: Server, key: str, model: str = "gpt-fake", feature: str | None = None, **extra: Any) -> str:
    """One chat completion through the OpenAI SDK; its request id."""
    headers = {"x-bastion-feature": feature} if feature else None
    raw = oai(gateway.url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hello"}], extra_headers=headers, **extra
    )
    raw.parse()
    return raw.headers["x-request-id"]


def send_feedback(gateway: Server, key: str, body: Any, path: str = "/v1/feedback") -> httpx.Response:
    return httpx.post(
        f"{gateway.url}{path}", headers={"authorization": f"Bearer {key}"}, json=body, timeout=10
    )


def report(admin: AdminClient, **query: str) -> list[dict[str, Any]]:
    response = admin.http.get("/admin/feedback", params=query)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_feedback_on_own_request_is_stored(
    gateway: Server, admin: AdminClient, keys: tuple[str, str]
) -> None:
    request_id = chat(gateway, keys[0], feature="stored")
    response = send_feedback(
        gateway,
        keys[0],
        {"request_id": request_id, "score": 0.5, "comment": "good", "metadata": {"ui": "web"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("fb_") and body["object"] == "feedback"
    assert (body["request_id"], body["score"], body["comment"], body["metadata"]) == (
        request_id,
        0.5,
        "good",
        {"ui": "web"},
    )
    assert isinstance(body["created_at"], int) and body["created_at"] == body["updated_at"]
    assert response.headers["x-request-id"] != request_id  # the feedback call's own id

    (row,) = report(admin, group_by="model,team_id,deployment,provider", feature="stored")
    assert (row["model"], row["team_id"], row["deployment"], row["provider"]) == (
        "gpt-fake",
        "quality",
        "gpt-4o-mini",
        "openai",
    )
    assert (row["count"], row["mean_score"], row["positive_share"]) == (1, 0.5, 1.0)


def test_other_key_and_unknown_id_get_the_same_404(gateway: Server, keys: tuple[str, str]) -> None:
    request_id = chat(gateway, keys[0])
    other = send_feedback(gateway, keys[1], {"request_id": request_id, "score": -1})
    assert other.status_code == 404, other.text
    assert other.json()["error"]["code"] == "request_not_found"
    assert other.json()["error"]["type"] == "not_found_error"
    unknown = send_feedback(gateway, keys[1], {"request_id": "req_never_made", "score": -1})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "request_not_found"
    assert other.json()["error"]["message"].replace(request_id, "ID") == unknown.json()["error"][
        "message"
    ].replace("req_never_made", "ID")
    assert send_feedback(gateway, keys[0], {"request_id": request_id, "thumbs": "up"}).status_code == 200


def test_a_reused_request_id_lets_each_key_score_only_its_own_request(
    gateway: Server, keys: tuple[str, str]
) -> None:
    shared = f"shared-{uuid.uuid4().hex}"
    raw = oai(gateway.url, keys[0]).chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": shared}
    )
    assert raw.headers["x-request-id"] == shared
    oai(gateway.url, keys[1]).chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": shared}
    )
    # each key scores its own request under the shared id; neither sees nor replaces the other's score
    second = send_feedback(gateway, keys[1], {"request_id": shared, "score": -1})
    first = send_feedback(gateway, keys[0], {"request_id": shared, "score": 1})
    assert second.status_code == 200 and second.json()["score"] == -1
    assert first.status_code == 200 and first.json()["score"] == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"score": 2}, "score"),
        ({"score": "x"}, "score"),
        ({"score": 1, "thumbs": "up"}, "score"),
        ({}, "score"),
        ({"thumbs": "meh"}, "thumbs"),
        ({"score": 1, "comment": "x" * 4001}, "comment"),
    ],
)
def test_invalid_feedback_is_a_400_naming_the_field(
    gateway: Server, keys: tuple[str, str], body: dict[str, Any], param: str
) -> None:
    response = send_feedback(gateway, keys[0], {"request_id": "req_whatever", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]


def test_bad_body_and_missing_key(gateway: Server, keys: tuple[str, str]) -> None:
    missing = send_feedback(gateway, keys[0], {"score": 1})
    assert (missing.status_code, missing.json()["error"]["param"]) == (400, "request_id")
    not_json = httpx.post(
        f"{gateway.url}/v1/feedback", headers={"authorization": f"Bearer {keys[0]}"}, content=b"{", timeout=10
    )
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    anonymous = httpx.post(f"{gateway.url}/v1/feedback", json={"request_id": "r", "score": 1}, timeout=10)
    assert anonymous.status_code == 401
    assert httpx.get(f"{gateway.url}/v1/feedback", timeout=10).status_code == 405


def test_second_feedback_replaces_the_first(
    gateway: Server, admin: AdminClient, keys: tuple[str, str]
) -> None:
    request_id = chat(gateway, keys[0], feature="replaced")
    first = send_feedback(gateway, keys[0], {"request_id": request_id, "score": 1, "comment": "nice"})
    second = send_feedback(gateway, keys[0], {"request_id": request_id, "thumbs": "down"}, path="/feedback")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["id"] == first.json()["id"]
    assert (second.json()["score"], second.json()["comment"]) == (-1.0, None)
    assert second.json()["created_at"] == first.json()["created_at"]
    (row,) = report(admin, group_by="feature", feature="replaced")
    assert (row["count"], row["mean_score"], row["negatives"]) == (1, -1.0, 1)


def test_feedback_for_an_anthropic_request_with_x_api_key(gateway: Server, keys: tuple[str, str]) -> None:
    raw = claude(gateway.url, keys[0]).messages.with_raw_response.create(
        model="claude-fake", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    request_id = raw.headers["x-request-id"]
    response = httpx.post(
        f"{gateway.url}/v1/feedback",
        headers={"x-api-key": keys[0]},
        json={"request_id": request_id, "score": 0.75},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_report_aggregates_per_model_and_feature_exactly(
    gateway: Server, admin: AdminClient, keys: tuple[str, str]
) -> None:
    scored = [
        ("gpt-fake", "agg-a", 1.0),
        ("gpt-fake", "agg-a", 0.5),
        ("gpt-fake", "agg-a", -1.0),
        ("claude-fake", "agg-a", 1.0),
        ("claude-fake", "agg-a", 0.0),
        ("gpt-fake", "agg-b", -0.5),
    ]
    for model, feature, score in scored:
        request_id = chat(gateway, keys[0], model=model, feature=feature)
        assert send_feedback(gateway, keys[0], {"request_id": request_id, "score": score}).status_code == 200
    chat(gateway, keys[0], feature="agg-a")  # a request without feedback counts nowhere

    by_model = {r["model"]: r for r in report(admin, group_by="model", feature="agg-a")}
    assert set(by_model) == {"gpt-fake", "claude-fake"}
    gpt, claude_row = by_model["gpt-fake"], by_model["claude-fake"]
    assert (gpt["count"], gpt["positives"], gpt["negatives"]) == (3, 2, 1)
    assert gpt["mean_score"] == pytest.approx(0.5 / 3)
    assert gpt["positive_share"] == pytest.approx(2 / 3)
    assert (gpt["score_sum"], gpt["score_squares"]) == pytest.approx((0.5, 2.25))
    low, high = gpt["ci95"]
    assert low < gpt["mean_score"] < high
    assert (claude_row["count"], claude_row["mean_score"], claude_row["positive_share"]) == (2, 0.5, 0.5)

    both = {
        (r["model"], r["feature"]): r["count"]
        for r in report(admin, group_by="model,feature")
        if r["feature"] in ("agg-a", "agg-b")
    }
    assert both == {("gpt-fake", "agg-a"): 3, ("claude-fake", "agg-a"): 2, ("gpt-fake", "agg-b"): 1}
    (daily,) = report(admin, group_by="feature", bucket="day", feature="agg-a")
    assert daily["count"] == 5 and daily["bucket"].endswith("T00:00:00+00:00")

    bad = admin.http.get("/admin/feedback", params={"group_by": "status"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "group_by")
    assert httpx.get(f"{gateway.url}/admin/feedback", timeout=10).status_code == 401


def test_ab_comparison_shows_feedback_per_variant(
    gateway: Server, admin: AdminClient, keys: tuple[str, str]
) -> None:
    client = oai(gateway.url, keys[0])
    scores = {"control": [1.0, 0.5], "candidate": [-1.0, -0.5]}  # alternated within each variant
    given: dict[str, list[float]] = {"control": [], "candidate": []}
    for index in range(200):
        raw = client.chat.completions.with_raw_response.create(
            model="chat-ab", messages=[{"role": "user", "content": "hi"}], user=f"end-user-{index}"
        )
        variant = raw.headers["x-bastion-variant"]
        score = scores[variant][len(given[variant]) % 2]
        response = send_feedback(
            gateway, keys[0], {"request_id": raw.headers["x-request-id"], "score": score}
        )
        assert response.status_code == 200, response.text
        given[variant].append(score)
        if min(len(v) for v in given.values()) >= 4:
            break

    response = admin.http.get("/admin/experiments/chat-ab")
    assert response.status_code == 200, response.text
    result = response.json()
    control, candidate = result["variants"]
    for entry in (control, candidate):
        values = given[entry["name"]]
        feedback = entry["feedback"]
        assert feedback["n"] == len(values)
        assert feedback["mean"] == pytest.approx(sum(values) / len(values))
        low, high = feedback["ci95"]
        assert low < feedback["mean"] < high
    assert control["feedback"]["positive_share"] == 1.0 and candidate["feedback"]["positive_share"] == 0.0
    versus = candidate["vs_control"]["feedback"]
    assert versus["difference"] == pytest.approx(
        sum(given["candidate"]) / len(given["candidate"]) - sum(given["control"]) / len(given["control"])
    )
    assert versus["ci95"][1] < 0 and versus["significant"]
    assert result["feedback"]["n"] == len(given["control"]) + len(given["candidate"])


def test_feedback_metrics(gateway: Server) -> None:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert (
        metric_value(text, "bastion_feedback_total", {"model_group": "gpt-fake", "score_sign": "positive"})
        >= 3
    )
    assert (
        metric_value(text, "bastion_feedback_total", {"model_group": "claude-fake", "score_sign": "neutral"})
        >= 1
    )
    assert metric_value(text, "bastion_feedback_score_bucket", {"model_group": "gpt-fake", "le": "-1.0"}) >= 1
    assert metric_value(text, "bastion_feedback_score_count", {"model_group": "gpt-fake"}) >= 6
