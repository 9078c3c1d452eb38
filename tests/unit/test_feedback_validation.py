"""``POST /v1/feedback`` body validation, and the evaluation event a score becomes."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.api.feedback import MAX_COMMENT_CHARS, FeedbackInput, validate_feedback
from bastion.errors import InvalidRequest
from bastion.store.records import FeedbackRecord
from bastion.telemetry.feedback_metrics import EVALUATION_EVENT, evaluation_event, score_sign


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"request_id": "r1", "score": 1}, FeedbackInput("r1", 1.0)),
        ({"request_id": "r1", "score": -0.25}, FeedbackInput("r1", -0.25)),
        ({"request_id": "r1", "score": 0}, FeedbackInput("r1", 0.0)),
        ({"request_id": "r1", "thumbs": "up"}, FeedbackInput("r1", 1.0)),
        ({"request_id": "r1", "thumbs": "down", "score": None}, FeedbackInput("r1", -1.0)),
        (
            {"request_id": "r1", "score": 0.5, "comment": "ok", "metadata": {"screen": "chat", "n": 2}},
            FeedbackInput("r1", 0.5, "ok", {"screen": "chat", "n": 2}),
        ),
        ({"request_id": "r1", "score": 1, "comment": None, "metadata": None}, FeedbackInput("r1", 1.0)),
    ],
)
def test_valid_bodies(body: dict[str, Any], expected: FeedbackInput) -> None:
    assert validate_feedback(body) == expected


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"score": 1}, "request_id", "missing_required_parameter"),
        ({"request_id": "", "score": 1}, "request_id", "invalid_value"),
        ({"request_id": 7, "score": 1}, "request_id", "invalid_value"),
        ({"request_id": "x" * 129, "score": 1}, "request_id", "invalid_value"),
        ({"request_id": "r1"}, "score", "missing_required_parameter"),
        ({"request_id": "r1", "score": 2}, "score", "invalid_value"),
        ({"request_id": "r1", "score": -1.01}, "score", "invalid_value"),
        ({"request_id": "r1", "score": "x"}, "score", "invalid_value"),
        ({"request_id": "r1", "score": "1"}, "score", "invalid_value"),
        ({"request_id": "r1", "score": True}, "score", "invalid_value"),
        ({"request_id": "r1", "score": float("nan")}, "score", "invalid_value"),
        ({"request_id": "r1", "score": 1, "thumbs": "up"}, "score", "invalid_value"),
        ({"request_id": "r1", "thumbs": "sideways"}, "thumbs", "invalid_value"),
        ({"request_id": "r1", "thumbs": 1}, "thumbs", "invalid_value"),
        ({"request_id": "r1", "score": 1, "comment": 5}, "comment", "invalid_value"),
        (
            {"request_id": "r1", "score": 1, "comment": "x" * (MAX_COMMENT_CHARS + 1)},
            "comment",
            "invalid_value",
        ),
        ({"request_id": "r1", "score": 1, "metadata": []}, "metadata", "invalid_value"),
        (
            {"request_id": "r1", "score": 1, "metadata": {str(i): i for i in range(17)}},
            "metadata",
            "invalid_value",
        ),
        ({"request_id": "r1", "score": 1, "metadata": {"k" * 65: 1}}, "metadata", "invalid_value"),
        ({"request_id": "r1", "score": 1, "metadata": {"k": "v" * 513}}, "metadata", "invalid_value"),
        ({"request_id": "r1", "score": 1, "metadata": {"k": {"nested": 1}}}, "metadata", "invalid_value"),
        ({"request_id": "r1", "score": 1, "rating": 5}, "rating", "unknown_parameter"),
    ],
)
def test_invalid_bodies_name_the_field(body: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_feedback(body)
    assert (caught.value.param, caught.value.code, caught.value.status) == (param, code, 400)
    assert param in caught.value.message


def test_a_comment_of_the_maximum_length_is_accepted() -> None:
    body = {"request_id": "r1", "score": 1, "comment": "x" * MAX_COMMENT_CHARS}
    assert validate_feedback(body).comment == "x" * MAX_COMMENT_CHARS


def test_evaluation_event_follows_the_genai_conventions() -> None:
    record = FeedbackRecord(
        id="fb_1", request_id="req-1", ts=0.0, score=-1.0, comment="wrong", model="gpt-4o", provider="openai"
    )
    event = evaluation_event(record)
    assert event.name == EVALUATION_EVENT == "gen_ai.evaluation.result"
    assert event.attributes == {
        "gen_ai.evaluation.name": "user_feedback",
        "gen_ai.evaluation.score.value": -1.0,
        "gen_ai.evaluation.score.label": "negative",
        "gen_ai.evaluation.explanation": "wrong",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "bastion.request_id": "req-1",
    }
    assert [score_sign(s) for s in (0.5, 0.0, -0.1)] == ["positive", "neutral", "negative"]
