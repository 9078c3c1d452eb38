"""Typed configuration: the YAML file's schema, ``${ENV}`` interpolation and strict validation.

Every section is a pydantic model with ``extra="forbid"`` so a misspelt key is an
error, not a silently ignored setting. Errors name the dotted path and the YAML
line it came from (``bastion.config_loader`` does the reading).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- server


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger bodies get 413")
    graceful_shutdown_seconds: float = Field(
        30.0, ge=0, description="in-flight streams get this long on SIGTERM"
    )
    api_keys: list[str] = Field(
        default_factory=list, description="static client keys (kept hashed in memory)"
    )
    admin_key: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    dev_mode: bool | None = Field(
        None, description="accept any bearer token; default: on when no keys are configured"
    )


# --------------------------------------------------------------------------- providers


class HttpProviderBase(Strict):
    base_url: str | None = None
    api_key: str | None = Field(None, repr=False)
    api_key_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0, description="max silence between bytes from upstream")
    max_connections: int = Field(0, ge=0, description="0 = unlimited pooled connections")

    @model_validator(mode="after")
    def _one_key_source(self) -> HttpProviderBase:
        if self.api_key and self.api_key_file:
            raise ValueError("set api_key or api_key_file, not both")
        return self

    def resolved_api_key(self) -> str | None:
        """The key from ``api_key`` or the content of ``api_key_file`` (surrounding whitespace removed)."""
        if self.api_key_file:
            try:
                with open(self.api_key_file, encoding="utf-8") as handle:
                    return handle.read().strip() or None
            except OSError as exc:
                raise ValueError(
                    f"api_key_file {self.api_key_file}: cannot read it ({exc.strerror})"
                ) from None
        return self.api_key or None


OpenAIPreset = Literal[
    "openai",
    "azure",
    "vllm",
    "tgi",
    "ollama",
    "llamacpp",
    "groq",
    "together",
    "mistral",
    "deepseek",
    "openrouter",
    "fireworks",
]


class OpenAIProviderConfig(HttpProviderBase):
    type: Literal["openai"]
    preset: OpenAIPreset = "openai"
    api_version: str | None = Field(None, description="Azure OpenAI api-version query parameter")
    stream_usage: bool = Field(True, description="ask upstream for stream_options.include_usage")


class AnthropicProviderConfig(HttpProviderBase):
    type: Literal["anthropic"]
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(4096, ge=1, description="Anthropic requires max_tokens; used when absent")


class GeminiProviderConfig(HttpProviderBase):
    type: Literal["gemini"]


class OutageWindow(Strict):
    start_seconds: float = Field(ge=0, description="seconds after start-up")
    duration_seconds: float = Field(gt=0)
    status: int = Field(503, ge=400, le=599)


class SimulatorProviderConfig(Strict):
    type: Literal["simulator"]
    ttft_ms: float = Field(0.0, ge=0, description="time to first token")
    tokens_per_second: float = Field(0.0, ge=0, description="0 = as fast as possible")
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=400, le=599)
    outages: list[OutageWindow] = Field(default_factory=list)
    outage_period_seconds: float | None = Field(None, gt=0, description="repeat outage windows every N s")
    seed: int = 0
    reply: str | None = Field(
        None, description="fixed reply text; default: deterministic text from the prompt"
    )
    max_reply_tokens: int = Field(48, ge=1)
    embedding_dimensions: int = Field(64, ge=1, le=4096)


class StaticProviderConfig(Strict):
    type: Literal["static"]
    content: str = Field(description="the reply every request gets")
    finish_reason: Literal["stop", "length"] = "stop"


ProviderConfig = Annotated[
    OpenAIProviderConfig
    | AnthropicProviderConfig
    | GeminiProviderConfig
    | SimulatorProviderConfig
    | StaticProviderConfig,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- models


class DeploymentConfig(Strict):
    provider: str
    model: str = Field(description="the model name the provider knows")
    params: dict[str, Any] = Field(
        default_factory=dict, description="request defaults for this deployment (e.g. max_tokens)"
    )


class ModelGroupConfig(Strict):
    """A public model name and the deployments that serve it."""

    deployments: list[DeploymentConfig] = Field(min_length=1)
    kind: Literal["chat", "embeddings"] = "chat"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `name: {provider: p, model: m}` is a group of one deployment.
        if isinstance(value, dict) and "provider" in value and "deployments" not in value:
            deployment = {k: value[k] for k in ("provider", "model", "params") if k in value}
            rest = {k: v for k, v in value.items() if k not in ("provider", "model", "params")}
            return {"deployments": [deployment], **rest}
        return value


# --------------------------------------------------------------------------- root


class BastionConfig(Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelGroupConfig] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not name or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"provider name {name!r} may only use letters, digits, '-', '_' and '.'")
        return value

    @model_validator(mode="after")
    def _references(self) -> BastionConfig:
        for group_name, group in self.models.items():
            for index, deployment in enumerate(group.deployments):
                if deployment.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f"models.{group_name}.deployments.{index}.provider: unknown provider "
                        f"{deployment.provider!r} (configured: {known})"
                    )
        return self
