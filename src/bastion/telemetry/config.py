"""The ``telemetry`` config section: per-request metrics and OpenTelemetry traces.

Metrics are on by default (a few histogram observations per request); tracing is off by
default, and while it is off nothing of OpenTelemetry is even imported.
"""

from __future__ import annotations

import importlib.util

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsConfig(_Strict):
    """The per-request metrics (GenAI histograms, requests, overhead) at ``GET /metrics``."""

    enabled: bool = Field(
        True, description="per-request histograms and counters; the stages' own counters always count"
    )
    max_feature_labels: int = Field(
        100, ge=0, description="distinct x-bastion-feature values that get a label; later ones are 'other'"
    )


class OtlpConfig(_Strict):
    """Where spans go: an OTLP/HTTP (protobuf) endpoint such as a collector's ``:4318/v1/traces``."""

    endpoint: str | None = Field(
        None,
        description="full traces URL; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or http://localhost:4318/v1/traces",
    )
    headers: dict[str, str] = Field(default_factory=dict, repr=False, description="e.g. an API key")
    timeout_seconds: float = Field(10.0, gt=0)
    compression: bool = Field(False, description="gzip the export requests")


class TracingConfig(_Strict):
    """OpenTelemetry spans per request, per stage and per upstream attempt."""

    enabled: bool = False
    sample_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        description="share of new traces recorded (a recorded request costs more than Bastion's own work "
        "on it); a caller's traceparent decides for its own trace",
    )
    service_name: str = "bastion"
    capture_content: bool = Field(
        False, description="put prompts and answers on spans (gen_ai.input/output.messages): opt in"
    )
    response_header: bool = Field(True, description="answer with x-trace-id so a client can find its trace")
    max_queue_size: int = Field(2048, ge=1, description="spans buffered for export; more are dropped")
    otlp: OtlpConfig = Field(default_factory=OtlpConfig)

    @model_validator(mode="after")
    def _installed(self) -> TracingConfig:
        # found, not imported: checking the config must not load OpenTelemetry
        if self.enabled and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
            raise ValueError("enabled: true needs OpenTelemetry: pip install 'bastion-gateway[tracing]'")
        return self


class TelemetryConfig(_Strict):
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
