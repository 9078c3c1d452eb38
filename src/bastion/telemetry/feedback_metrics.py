"""What a stored feedback score emits: Prometheus metrics now, an evaluation event for exporters.

The metrics are ``bastion_feedback_total{model_group, score_sign}`` and the
``bastion_feedback_score{model_group}`` histogram. Each accepted submission counts once, a
replacement included (a Prometheus counter cannot take the first score back); the stored
table, not these metrics, is the source for exact quality reports.

The OpenTelemetry GenAI conventions describe user feedback as a ``gen_ai.evaluation.result``
event. Bastion has no OpenTelemetry SDK yet, so nothing is exported: ``evaluation_event`` builds
the event's name and attributes, and any callable appended to ``FEEDBACK.exporters`` receives
each one (an OTel logs exporter is one such callable). With no exporter attached the event is
not even built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from bastion.store.records import FeedbackRecord
from bastion.telemetry.metrics import METRICS

log = logging.getLogger("bastion.telemetry")

EVALUATION_EVENT = "gen_ai.evaluation.result"
#: ``gen_ai.evaluation.name`` of user feedback
EVALUATION_NAME = "user_feedback"
SCORE_BUCKETS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


def score_sign(score: float) -> str:
    """``positive``, ``negative`` or ``neutral``: the low-cardinality label of a score."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


@dataclass(frozen=True, slots=True)
class EvaluationEvent:
    """An OpenTelemetry ``gen_ai.evaluation.result`` event: its name and attributes, SDK-free."""

    name: str
    attributes: dict[str, Any]


def evaluation_event(record: FeedbackRecord) -> EvaluationEvent:
    """The event for one score, with the GenAI attribute names where one exists.

    ``gen_ai.response.id`` is left out: the ledger keeps Bastion's request id, not the
    provider's response id, so the request id travels as ``bastion.request_id``.
    """
    attributes: dict[str, Any] = {
        "gen_ai.evaluation.name": EVALUATION_NAME,
        "gen_ai.evaluation.score.value": record.score,
        "gen_ai.evaluation.score.label": score_sign(record.score),
        "bastion.request_id": record.request_id,
    }
    optional = {
        "gen_ai.evaluation.explanation": record.comment,
        "gen_ai.request.model": record.model,
        "gen_ai.response.model": record.deployment,
        "gen_ai.provider.name": record.provider,
        "bastion.feature": record.feature,
        "bastion.variant": record.variant,
        "bastion.route_rule": record.route_rule,
    }
    attributes.update({name: value for name, value in optional.items() if value is not None})
    return EvaluationEvent(EVALUATION_EVENT, attributes)


class FeedbackTelemetry:
    def __init__(self) -> None:
        registry = METRICS.registry
        self.submissions = Counter(
            "bastion_feedback",
            "Feedback scores accepted (replacements included), by model group and sign of the score",
            ["model_group", "score_sign"],
            registry=registry,
        )
        self.scores = Histogram(
            "bastion_feedback_score",
            "Feedback scores accepted, in [-1, 1], by model group",
            ["model_group"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        #: called with each EvaluationEvent; an OpenTelemetry exporter attaches here
        self.exporters: list[Callable[[EvaluationEvent], None]] = []

    def record(self, record: FeedbackRecord) -> None:
        group = record.model or ""
        self.submissions.labels(group, score_sign(record.score)).inc()
        self.scores.labels(group).observe(record.score)
        if not self.exporters:
            return
        event = evaluation_event(record)
        for export in self.exporters:
            try:
                export(event)
            except Exception:
                log.exception("feedback event exporter %r failed", export)


#: the process-wide instance (metrics outlive config reloads)
FEEDBACK = FeedbackTelemetry()
