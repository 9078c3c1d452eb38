"""The ``guards`` config section: defaults off, overrides per model and route, start-up checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bastion.config import BastionConfig
from bastion.guards.stage import GuardStage


def test_every_guard_is_off_by_default_and_no_stage_is_built() -> None:
    config = BastionConfig()
    assert not config.guards.any_on()
    assert GuardStage.build(config) is None


def test_overrides_replace_guard_by_guard_first_match_wins() -> None:
    config = BastionConfig.model_validate(
        {
            "guards": {
                "pii": {"mode": "mask"},
                "injection": {"mode": "block"},
                "overrides": [
                    {"models": ["internal"], "pii": {"mode": "warn"}},
                    {"models": ["internal"], "routes": ["messages"], "injection": {"mode": "warn"}},
                    {"routes": ["messages"], "pii": {"mode": "block"}},
                ],
            }
        }
    )
    guards = config.guards
    assert guards.resolve("internal", "chat").pii.mode == "warn"
    assert guards.resolve("internal", "chat").injection.mode == "block"
    assert guards.resolve("internal", "messages").injection.mode == "warn"
    assert guards.resolve("internal", "messages").pii.mode == "warn"  # the earlier override wins
    assert guards.resolve("other", "messages").pii.mode == "block"
    assert guards.resolve("other", "chat").pii.mode == "mask"


def test_on_premise_needs_an_on_premise_provider() -> None:
    with pytest.raises(ValidationError, match="no provider is marked on_premise"):
        BastionConfig.model_validate({"guards": {"overrides": [{"pii": {"mode": "on_premise"}}]}})
    BastionConfig.model_validate(
        {
            "providers": {"local": {"type": "simulator", "on_premise": True}},
            "guards": {"pii": {"mode": "on_premise"}},
        }
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"pii": {"mode": "mask", "entities": ["EMAIL", "SHOE_SIZE"]}}, "unknown PII entities"),
        ({"moderation": {"mode": "block"}}, "needs categories or a classifier"),
        ({"injection": {"mode": "block", "threshold": 1.5}}, "less than or equal to 1"),
        ({"pii": {"mode": "scramble"}}, "mask"),
        ({"pii": {"mode": "mask", "mask_all": True}}, "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_refused_at_start_up(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BastionConfig.model_validate({"guards": section})


def test_a_classifier_that_cannot_be_loaded_fails_at_start_up() -> None:
    from bastion.config_loader import ConfigError

    config = BastionConfig.model_validate(
        {"guards": {"injection": {"mode": "block", "classifier": "no_such_package.detector:score"}}}
    )
    with pytest.raises(ConfigError, match=r"cannot import module 'no_such_package\.detector'"):
        GuardStage.build(config)
