"""The input guard stage: prompt injection, PII and the canary, before routing and admission.

It runs after validation and before routing, because what it finds can change where the
request may go (PII kept on premise sets the residency the executor enforces, and raises the
``pii`` flag routing rules match on). It rewrites the request only by copying: masked or
redacted text and the canary go upstream, the client's own body stays as sent
(``ctx.client_body``) for the audit log. Everything it decides is a ``GuardDecision`` on the
context: logged, counted, audited and echoed in ``x-bastion-guard``.

The guards for each (model, route) are resolved and built once, then reused; a gateway with
every guard off has no stage at all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.api.asgi import Scope, header
from bastion.context import GuardDecision, RequestContext
from bastion.errors import InvalidRequest, PermissionDenied
from bastion.guards.config import GuardsConfig, GuardSet
from bastion.guards.messages import injection_segments, rewrite, texts
from bastion.routing.residency import Residency
from bastion.telemetry.guard_metrics import GUARDS

if TYPE_CHECKING:
    from bastion.config import BastionConfig, ProviderPlacement
    from bastion.guards.injection import InjectionDetector
    from bastion.guards.moderation import Moderator
    from bastion.guards.pii import Masker, PiiDetector
    from bastion.providers.base import ChatRequest

#: plans are cached per requested model name, which the client chooses: bound the cache
_MAX_PLANS = 1024
_CONSENT_HEADER = b"x-bastion-consent"


@dataclass(slots=True)
class GuardPlan:
    """The guards for one (model, route), built once: detectors and the modes they run in."""

    guards: GuardSet
    injection: InjectionDetector | None
    injection_threshold: float
    indirect_threshold: float
    pii: PiiDetector | None
    input_moderator: Moderator | None
    output_moderator: Moderator | None
    leak_detector: PiiDetector | None
    consent_any: bool
    consent_keys: frozenset[str]

    @property
    def has_output(self) -> bool:
        g = self.guards
        return (
            self.output_moderator is not None
            or self.leak_detector is not None
            or g.canary.mode != "off"
            or g.json_schema.mode != "off"
        )


@dataclass(slots=True)
class InputOutcome:
    """What the input stage leaves for the output side of the same request."""

    plan: GuardPlan
    masker: Masker | None = None
    prompt_values: frozenset[str] = frozenset()  # PII the prompt itself held: not a leak when echoed


class GuardStage:
    def __init__(
        self, config: GuardsConfig, placements: Mapping[str, ProviderPlacement], canary: str | None = None
    ) -> None:
        self.config = config
        self.on_premise = frozenset(name for name, p in placements.items() if p.on_premise)
        planted = any(
            c is not None and c.mode != "off" for c in (config.canary, *(o.canary for o in config.overrides))
        )
        self.canary: str | None = (config.canary.token or canary or _new_canary()) if planted else None
        self._plans: dict[tuple[str, str], GuardPlan] = {}
        self._pii_detectors: dict[tuple[frozenset[str] | None, str], PiiDetector] = {}
        self._injection_detectors: dict[tuple[str | None, float], InjectionDetector] = {}

    @classmethod
    def build(cls, config: BastionConfig, previous: GuardStage | None = None) -> GuardStage | None:
        """The stage, or None when every guard is off; a reload keeps the previous random canary."""
        if not config.guards.any_on():
            return None
        stage = cls(config.guards, config.providers, previous.canary if previous is not None else None)
        # build the default plans now: a bad classifier path fails at start-up, not on a request
        try:
            for override in [None, *config.guards.overrides]:
                for model in (override.models if override is not None else None) or ["*"]:
                    for route in (override.routes if override is not None else None) or ["chat", "messages"]:
                        stage.plan(model, route)
        except (ImportError, ValueError, TypeError) as error:
            from bastion.config_loader import ConfigError

            raise ConfigError("guards", [f"guards: {error}"]) from error
        return stage

    # --------------------------------------------------------------------------- plans

    def plan(self, model: str, route: str) -> GuardPlan:
        key = (model, route)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            plan = self._plans[key] = self._build_plan(self.config.resolve(model, route))
        return plan

    def _build_plan(self, guards: GuardSet) -> GuardPlan:
        injection = None
        threshold = indirect_threshold = 1.0
        if guards.injection.mode != "off":
            from bastion.guards.injection import DEFAULT_INDIRECT_THRESHOLD, DEFAULT_THRESHOLD

            config = guards.injection
            injection = self._injection_detector(config.classifier, config.classifier_weight)
            threshold = config.threshold or DEFAULT_THRESHOLD
            indirect_threshold = config.indirect_threshold or DEFAULT_INDIRECT_THRESHOLD
        pii = None
        if guards.pii.mode != "off":
            pii = self._pii_detector(guards.pii.entities, guards.pii.default_region)
        moderation = guards.moderation
        moderator = _moderator(moderation) if moderation.mode != "off" else None
        leak = None
        if guards.pii_leak.mode != "off":
            leak = self._pii_detector(guards.pii_leak.entities, guards.pii.default_region)
        return GuardPlan(
            guards=guards,
            injection=injection,
            injection_threshold=threshold,
            indirect_threshold=indirect_threshold,
            pii=pii,
            input_moderator=moderator if moderation.input else None,
            output_moderator=moderator,
            leak_detector=leak,
            consent_any="*" in guards.pii.consent_keys,
            consent_keys=frozenset(guards.pii.consent_keys),
        )

    def _pii_detector(self, entities: list[str] | None, region: str) -> PiiDetector:
        from bastion.guards.pii import PiiDetector

        key = (None if entities is None else frozenset(entities), region)
        detector = self._pii_detectors.get(key)
        if detector is None:
            detector = self._pii_detectors[key] = PiiDetector(
                None if entities is None else set(entities), default_region=region
            )
            detector.find("warm-up: call +1 415 555 0100")  # the phone library loads its data on first use
        return detector

    def _injection_detector(self, classifier: str | None, weight: float) -> InjectionDetector:
        from bastion.guards.injection import InjectionDetector, load_classifier

        key = (classifier, weight)
        detector = self._injection_detectors.get(key)
        if detector is None:
            loaded = load_classifier(classifier) if classifier else None
            detector = self._injection_detectors[key] = InjectionDetector(loaded, classifier_weight=weight)
        return detector

    # --------------------------------------------------------------------------- the stage

    def check_input(
        self, ctx: RequestContext, scope: Scope, request: ChatRequest, route: str
    ) -> InputOutcome:
        """Run the input guards; may rewrite ``request.body`` (a copy) or refuse the request."""
        started = time.perf_counter()
        plan = self.plan(request.model, route)
        outcome = InputOutcome(plan)
        body = request.body
        ctx.client_body = body
        try:
            if plan.injection is not None:
                self._check_injection(ctx, plan, body)
            if plan.input_moderator is not None:
                self._check_moderation(ctx, plan, body)
            if plan.guards.json_schema.mode != "off":
                from bastion.guards.schema import schema_problem

                problem = schema_problem(body)
                if problem is not None:
                    raise InvalidRequest(problem, code="invalid_json_schema", param="response_format")
            if plan.pii is not None:
                body = self._check_pii(ctx, scope, plan, body, outcome)
            if plan.leak_detector is not None and outcome.masker is None:
                outcome.prompt_values = _values(plan.leak_detector, body)
            if plan.guards.canary.mode != "off" and self.canary is not None:
                body = _with_canary(body, plan.guards.canary.token or self.canary)
        finally:
            GUARDS.input_seconds.observe(time.perf_counter() - started)
        request.body = body
        return outcome

    def _check_injection(self, ctx: RequestContext, plan: GuardPlan, body: dict[str, Any]) -> None:
        assert plan.injection is not None
        config = plan.guards.injection
        worst = None
        worst_indirect = False
        for indirect, text in injection_segments(body):
            if indirect and not config.indirect:
                continue
            verdict = plan.injection.scan(text, indirect=indirect)
            threshold = plan.indirect_threshold if indirect else plan.injection_threshold
            if verdict.flagged(threshold) and (worst is None or verdict.score > worst.score):
                worst, worst_indirect = verdict, indirect
        if worst is None:
            return
        families = "+".join(worst.families) or "classifier"
        where = "indirect" if worst_indirect else "direct"
        detail = f"score={worst.score:.2f} {where} families={families}"
        if config.mode == "block":
            _decide(ctx, "injection", "input", "block", detail)
            source = "a tool result or document in the conversation" if worst_indirect else "the prompt"
            raise InvalidRequest(
                f"The request was refused: {source} looks like a prompt-injection attempt "
                f"({families.replace('+', ', ')}).",
                code="prompt_injection_detected",
                param="messages",
            )
        _decide(ctx, "injection", "input", "warn", detail)

    def _check_moderation(self, ctx: RequestContext, plan: GuardPlan, body: dict[str, Any]) -> None:
        assert plan.input_moderator is not None
        hit: set[str] = set()
        for role, text in texts(body):
            if role in ("user", "tool", "function"):
                hit.update(plan.input_moderator.check(text).categories)
        if not hit:
            return
        categories = ",".join(sorted(hit))
        if plan.guards.moderation.mode == "block":
            _decide(ctx, "moderation", "input", "block", f"categories={categories}")
            raise InvalidRequest(
                f"The request was refused by the content policy (categories: {categories}).",
                code="content_policy_violation",
                param="messages",
            )
        _decide(ctx, "moderation", "input", "warn", f"categories={categories}")

    def _check_pii(
        self, ctx: RequestContext, scope: Scope, plan: GuardPlan, body: dict[str, Any], outcome: InputOutcome
    ) -> dict[str, Any]:
        assert plan.pii is not None
        mode = plan.guards.pii.mode
        if _consents(scope):
            principal = ctx.principal
            allowed = plan.consent_any or (
                principal is not None
                and (principal.key_id in plan.consent_keys or principal.name in plan.consent_keys)
            )
            if not allowed:
                raise PermissionDenied(
                    "This API key may not send x-bastion-consent: pii (guards.pii.consent_keys)",
                    code="consent_not_allowed",
                )
            _decide(ctx, "pii", "input", "consent", "")
            return body
        if mode == "mask":
            from bastion.guards.pii import Masker

            masker = Masker(plan.pii)
            masked = rewrite(body, masker.mask)
            issued = masker.placeholders
            if not issued:
                return body
            ctx.sensitive.add("pii")
            outcome.masker = masker
            _decide(ctx, "pii", "input", "mask", _kinds_of_placeholders(issued))
            return masked if masked is not None else body
        counts: Counter[str] = Counter()
        for _, text in texts(body):
            for finding in plan.pii.find(text):
                counts[finding.kind] += 1
        if not counts:
            return body
        ctx.sensitive.add("pii")
        detail = ",".join(f"{kind}={count}" for kind, count in sorted(counts.items()))
        if mode == "block":
            _decide(ctx, "pii", "input", "block", detail)
            raise InvalidRequest(
                f"The request was refused: it contains personal data ({', '.join(sorted(counts))}) "
                "and this gateway does not send personal data to external providers.",
                code="pii_detected",
                param="messages",
            )
        if mode == "redact":
            from bastion.guards.pii import Masker

            redacted = rewrite(body, Masker(plan.pii).redact)
            _decide(ctx, "pii", "input", "redact", detail)
            return redacted if redacted is not None else body
        if mode == "on_premise":
            keep = Residency(("guards.pii",), "on premise (personal data)", self.on_premise)
            ctx.residency = keep
            _decide(ctx, "pii", "input", "on_premise", detail)
            return body
        _decide(ctx, "pii", "input", "warn", detail)
        return body


def _moderator(config: Any) -> Moderator:
    from bastion.guards.moderation import Moderator, load_moderation_classifier

    classifier = load_moderation_classifier(config.classifier) if config.classifier else None
    return Moderator(config.categories, classifier, threshold=config.threshold)


def _decide(ctx: RequestContext, guard: str, stage: str, action: str, detail: str) -> None:
    ctx.guards.append(GuardDecision(guard, stage, action, detail))
    GUARDS.decisions.labels(guard, stage, action).inc()


def _consents(scope: Scope) -> bool:
    raw = header(scope, _CONSENT_HEADER)
    if raw is None:
        return False
    return "pii" in {part.strip().lower() for part in raw.decode("latin-1").split(",")}


def _kinds_of_placeholders(issued: Mapping[str, str]) -> str:
    counts: Counter[str] = Counter(placeholder[1:].rsplit("_", 1)[0] for placeholder in issued)
    return ",".join(f"{kind}={count}" for kind, count in sorted(counts.items()))


def _values(detector: PiiDetector, body: dict[str, Any]) -> frozenset[str]:
    return frozenset(finding.text for _, text in texts(body) for finding in detector.find(text))


def _new_canary() -> str:
    from bastion.guards.leaks import new_canary

    return new_canary()


def _with_canary(body: dict[str, Any], canary: str) -> dict[str, Any]:
    """The body with the canary sentence appended to its system prompt (or as a first system turn)."""
    from bastion.guards.leaks import canary_instruction

    sentence = canary_instruction(canary)
    messages = list(body.get("messages") or [])
    for position, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            if isinstance(content, str):
                messages[position] = {**message, "content": f"{content}\n\n{sentence}"}
                break
            if isinstance(content, list):
                messages[position] = {**message, "content": [*content, {"type": "text", "text": sentence}]}
                break
    else:
        messages.insert(0, {"role": "system", "content": sentence})
    return {**body, "messages": messages}
