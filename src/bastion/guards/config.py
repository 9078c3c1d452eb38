"""The ``guards`` config section: which guard runs, in which mode, for which models and routes.

Every guard is ``off`` by default so a gateway that does not ask for safety pays nothing for
it. ``overrides`` change guards for some model names (as the client asked for them, aliases
included) or routes; the first matching override wins, guard by guard.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

InputMode = Literal["block", "warn", "off"]
PiiMode = Literal["mask", "redact", "block", "on_premise", "warn", "off"]
OutputMode = Literal["block", "redact", "warn", "off"]
Route = Literal["chat", "messages"]


def _known_entities(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    from bastion.guards.pii import ALL_KINDS  # the detector's kinds; imported late (phonenumbers is big)

    unknown = sorted(set(value) - ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown PII entities {unknown}; known: {sorted(ALL_KINDS)}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InjectionGuardConfig(_Strict):
    """Prompt-injection detection on user turns (direct) and on tool results and documents (indirect)."""

    mode: InputMode = "off"
    threshold: float | None = Field(None, gt=0, le=1, description="user turns; default: the calibrated one")
    indirect_threshold: float | None = Field(
        None, gt=0, le=1, description="tool results and embedded documents; default: the calibrated one"
    )
    indirect: bool = Field(True, description="scan tool results and <document> blocks too")
    classifier: str | None = Field(None, description="'package.module:attr' of an ML classifier to combine")
    classifier_weight: float = Field(0.5, ge=0, le=1)


class PiiGuardConfig(_Strict):
    """Personal data in prompts: masked (restored in the answer), redacted, refused or kept on premise."""

    mode: PiiMode = "off"
    entities: list[str] | None = Field(None, description="default: every kind the detector knows")
    default_region: str = Field("US", description="region for phone numbers written without +country")
    consent_keys: list[str] = Field(
        default_factory=list,
        description="key ids or names whose requests may send x-bastion-consent: pii ('*' = any key)",
    )

    @field_validator("entities")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return _known_entities(value)


class JsonSchemaGuardConfig(_Strict):
    """Answers to ``response_format: json_schema`` (and strict tools) must match the schema."""

    mode: Literal["block", "warn", "off"] = "off"
    retries: int = Field(1, ge=0, le=3, description="re-asks with the validation error fed back")


class ModerationGuardConfig(_Strict):
    mode: OutputMode = "off"
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="category -> words or phrases ('re:' prefix for a regex)"
    )
    classifier: str | None = Field(None, description="'package.module:attr' returning category scores")
    threshold: float = Field(0.5, gt=0, le=1)
    input: bool = Field(False, description="check prompts too (block or warn only)")

    @model_validator(mode="after")
    def _something_to_check(self) -> ModerationGuardConfig:
        if self.mode != "off" and not self.categories and self.classifier is None:
            raise ValueError("moderation needs categories or a classifier")
        return self


class PiiLeakGuardConfig(_Strict):
    """Personal data and secrets in answers that the prompt did not contain."""

    mode: OutputMode = "off"
    entities: list[str] | None = None

    @field_validator("entities")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return _known_entities(value)


class CanaryGuardConfig(_Strict):
    """A secret token in the system prompt; seeing it in an answer means the prompt leaked."""

    mode: Literal["block", "warn", "off"] = "off"
    token: str | None = Field(
        None,
        repr=False,
        description="the canary; default: random per process (set it so replicas share cache entries)",
    )


class GuardSet(_Strict):
    injection: InjectionGuardConfig = Field(default_factory=InjectionGuardConfig)
    pii: PiiGuardConfig = Field(default_factory=PiiGuardConfig)
    json_schema: JsonSchemaGuardConfig = Field(default_factory=JsonSchemaGuardConfig)
    moderation: ModerationGuardConfig = Field(default_factory=ModerationGuardConfig)
    pii_leak: PiiLeakGuardConfig = Field(default_factory=PiiLeakGuardConfig)
    canary: CanaryGuardConfig = Field(default_factory=CanaryGuardConfig)


class GuardOverride(_Strict):
    """Guards that differ for some models or routes; a guard left out keeps the default."""

    models: list[str] = Field(default_factory=list, description="model names as requested; empty = any")
    routes: list[Route] = Field(default_factory=list, description="chat, messages; empty = any")
    injection: InjectionGuardConfig | None = None
    pii: PiiGuardConfig | None = None
    json_schema: JsonSchemaGuardConfig | None = None
    moderation: ModerationGuardConfig | None = None
    pii_leak: PiiLeakGuardConfig | None = None
    canary: CanaryGuardConfig | None = None

    def matches(self, model: str, route: str) -> bool:
        return (not self.models or model in self.models) and (not self.routes or route in self.routes)


class GuardsConfig(GuardSet):
    overrides: list[GuardOverride] = Field(default_factory=list)

    def resolve(self, model: str, route: str) -> GuardSet:
        """The guards for one (model, route): the defaults, replaced guard by guard by the first match."""
        chosen: dict[str, object] = {}
        for override in self.overrides:
            if not override.matches(model, route):
                continue
            for name in GuardSet.model_fields:
                value = getattr(override, name)
                if value is not None and name not in chosen:
                    chosen[name] = value
        return GuardSet(**{name: chosen.get(name, getattr(self, name)) for name in GuardSet.model_fields})

    def any_on(self) -> bool:
        sets: list[GuardSet | GuardOverride] = [self, *self.overrides]
        return any(
            (getattr(s, name) is not None and getattr(s, name).mode != "off")
            for s in sets
            for name in GuardSet.model_fields
        )
