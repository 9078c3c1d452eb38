"""A/B splits under residency: a draw on a variant residency rules out is redrawn over the allowed ones."""

from __future__ import annotations

from bastion.config import RouteAlias
from bastion.context import Principal, RequestContext
from bastion.routing.splits import SplitAlias


def _split() -> SplitAlias:
    alias = RouteAlias.model_validate(
        {
            "variants": [
                {"name": "control", "model": "gpt-eu", "weight": 50},
                {"name": "candidate", "model": "claude-us", "weight": 30},
                {"name": "third", "model": "mistral-eu", "weight": 20},
            ]
        }
    )
    return SplitAlias("chat-ab", alias)


def _ctx(end_user: str) -> RequestContext:
    ctx = RequestContext(request_id="r", ingress="openai", principal=Principal(key_id="k", team_id="t"))
    ctx.end_user = end_user
    return ctx


def test_without_residency_every_variant_is_drawn() -> None:
    split = _split()
    seen = {split.choose(_ctx(f"user-{n}")).variant for n in range(300)}
    assert seen == {"control", "candidate", "third"}


def test_residency_redraws_over_allowed_variants_and_stays_sticky() -> None:
    split = _split()

    def eu_only(group: str) -> bool:
        return group.endswith("-eu")

    counts = {"control": 0, "third": 0}
    for n in range(1000):
        first = split.choose(_ctx(f"user-{n}"), eu_only)
        again = split.choose(_ctx(f"user-{n}"), eu_only)
        assert first == again  # sticky
        assert first.group in ("gpt-eu", "mistral-eu")
        counts[first.variant] += 1
        unrestricted = split.choose(_ctx(f"user-{n}"))
        if unrestricted.variant != "candidate":
            assert first.variant == unrestricted.variant  # users not on the ruled-out variant keep theirs
        else:
            assert "candidate not allowed by residency" in first.reason
    # weights among the allowed variants stay 50:20 (5:2), within sampling noise
    assert 0.64 < counts["control"] / 1000 < 0.78


def test_no_allowed_variant_keeps_the_draw_for_the_executor_to_refuse() -> None:
    split = _split()
    choice = split.choose(_ctx("someone"), lambda group: False)
    assert choice.group in ("gpt-eu", "claude-us", "mistral-eu")
