"""Reading the YAML config: interpolation, errors that point at the line, shorthands, zero-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config import BastionConfig, OpenAIProviderConfig, SimulatorProviderConfig
from bastion.config_loader import ConfigError, default_config, load_config_file, load_config_text

SECRET = "sk-live-0123456789abcdef"


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, environ=environ or {})
    return caught.value.problems


# --------------------------------------------------------------------------- interpolation


def test_env_variable_is_substituted() -> None:
    text = "providers:\n  oa:\n    type: openai\n    api_key: ${OA_KEY}\n    base_url: http://${HOST}/v1\n"
    config = load_config_text(text, environ={"OA_KEY": SECRET, "HOST": "llm.internal:8000"})
    provider = config.providers["oa"]
    assert isinstance(provider, OpenAIProviderConfig)
    assert provider.api_key == SECRET
    assert provider.base_url == "http://llm.internal:8000/v1"


def test_default_is_used_only_when_the_variable_is_unset() -> None:
    text = "server:\n  port: ${PORT:-9001}\n  host: ${HOST:-0.0.0.0}\n"
    assert load_config_text(text, environ={}).server.port == 9001
    config = load_config_text(text, environ={"PORT": "7000", "HOST": "10.0.0.1"})
    assert (config.server.port, config.server.host) == (7000, "10.0.0.1")


def test_empty_default_and_empty_variable_are_allowed() -> None:
    text = "server:\n  admin_key: x${EMPTY}${UNSET:-}y\n"
    assert load_config_text(text, environ={"EMPTY": ""}).server.admin_key == "xy"


def test_env_lookup_uses_the_passed_environ_not_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONLY_IN_OS", "present")
    found = problems("server:\n  admin_key: ${ONLY_IN_OS}\n", environ={})
    assert len(found) == 1 and "ONLY_IN_OS" in found[0]


def test_missing_variable_names_the_key_and_line() -> None:
    text = "server:\n  port: 8080\nproviders:\n  oa:\n    type: openai\n    api_key: ${OA_KEY}\n"
    (problem,) = problems(text)
    assert problem.startswith("providers.oa.api_key (line 6): ")
    assert "environment variable OA_KEY is not set" in problem
    assert "${OA_KEY:-default}" in problem


def test_every_missing_variable_is_reported_at_once() -> None:
    text = "server:\n  api_keys:\n    - ${KEY_A}\n    - ${KEY_B}\n"
    found = problems(text)
    assert [p.split(":")[0] for p in found] == ["server.api_keys.0 (line 3)", "server.api_keys.1 (line 4)"]


# --------------------------------------------------------------------------- validation errors


def test_unknown_key_names_path_and_line() -> None:
    (problem,) = problems("server:\n  port: 8080\n  prot: 1\n")
    assert problem.startswith("server.prot (line 3): unknown key")


def test_unknown_key_inside_a_deployment_list() -> None:
    text = (
        "providers:\n  sim: {type: simulator}\nmodels:\n  gpt:\n    deployments:\n"
        "      - provider: sim\n        model: a\n"
        "      - provider: sim\n        model: b\n        wieght: 2\n"
    )
    (problem,) = problems(text)
    assert problem.startswith("models.gpt.deployments.1.wieght (line 10): unknown key")


def test_wrong_types_are_all_reported_with_their_lines() -> None:
    text = "server:\n  port: eighty\nproviders:\n  oa:\n    type: openai\n    connect_timeout: soon\n"
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith("server.port (line 2): ") and "integer" in found[0]
    # the discriminator tag ("openai") is not a YAML key and must not appear in the path
    assert found[1].startswith("providers.oa.connect_timeout (line 6): ") and "number" in found[1]


def test_out_of_range_value() -> None:
    (problem,) = problems("server:\n  port: 70000\n")
    assert problem.startswith("server.port (line 2): ")


def test_unknown_provider_type() -> None:
    (problem,) = problems("providers:\n  co:\n    type: cohere\n")
    assert problem.startswith("providers.co (line 2): unknown provider type 'cohere'")
    assert "openai, anthropic, gemini, simulator, static" in problem


def test_missing_provider_type() -> None:
    (problem,) = problems("providers:\n  oa:\n    base_url: http://x\n")
    assert problem.startswith("providers.oa (line 2): missing 'type'")


def test_invalid_provider_name() -> None:
    (problem,) = problems("providers:\n  'my provider': {type: simulator}\n")
    assert problem.startswith("providers (line 1): ") and "'my provider'" in problem


def test_unknown_provider_reference_names_the_dotted_path() -> None:
    text = "providers:\n  sim:\n    type: simulator\nmodels:\n  gpt:\n    provider: nope\n    model: m\n"
    (problem,) = problems(text)
    assert "models.gpt.deployments.0.provider" in problem
    assert "unknown provider 'nope' (configured: sim)" in problem


def test_unknown_provider_reference_points_at_its_line() -> None:
    text = "providers:\n  sim:\n    type: simulator\nmodels:\n  gpt:\n    provider: nope\n    model: m\n"
    (problem,) = problems(text)
    assert problem.startswith("models.gpt.deployments.0.provider (line 6): ")


def test_yaml_syntax_error_gives_line_and_column() -> None:
    (problem,) = problems("server:\n  port: 8080\n bad: [\n")
    assert problem.startswith("YAML syntax error (line 3, column 2): ")


def test_top_level_must_be_a_mapping() -> None:
    (problem,) = problems("- server\n- providers\n")
    assert "top level must be a mapping" in problem


def test_empty_file_is_the_default_config() -> None:
    assert load_config_text("", environ={}) == BastionConfig()


def test_error_text_names_the_source_file(tmp_path: Path) -> None:
    path = tmp_path / "bastion.yaml"
    path.write_text("server:\n  prot: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path, environ={})
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"invalid config {path}:\n  - server.prot (line 2)")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_file(tmp_path / "missing.yaml")
    assert caught.value.problems[0].startswith("cannot read file")


# --------------------------------------------------------------------------- models and keys


def test_shorthand_is_one_deployment() -> None:
    text = (
        "providers:\n  sim: {type: simulator}\nmodels:\n"
        "  emb: {provider: sim, model: sim-embed, kind: embeddings, params: {dimensions: 8}}\n"
    )
    group = load_config_text(text, environ={}).models["emb"]
    assert group.kind == "embeddings"
    assert len(group.deployments) == 1
    (deployment,) = group.deployments
    assert (deployment.provider, deployment.model, deployment.params) == (
        "sim",
        "sim-embed",
        {"dimensions": 8},
    )


def test_api_key_and_api_key_file_together_are_refused() -> None:
    text = f"providers:\n  oa:\n    type: openai\n    api_key: {SECRET}\n    api_key_file: /run/secrets/oa\n"
    (problem,) = problems(text)
    assert problem == "providers.oa (line 2): set api_key or api_key_file, not both"


def test_api_key_file_is_read_and_stripped(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {SECRET}\n")
    text = "providers:\n  oa:\n    type: openai\n    api_key_file: ${KEY_FILE}\n"
    provider = load_config_text(text, environ={"KEY_FILE": str(key_file)}).providers["oa"]
    assert isinstance(provider, OpenAIProviderConfig)
    assert provider.api_key is None
    assert provider.resolved_api_key() == SECRET


def test_api_key_is_not_in_the_repr() -> None:
    provider = OpenAIProviderConfig(type="openai", api_key=SECRET)
    assert provider.resolved_api_key() == SECRET
    assert SECRET not in repr(provider)


def test_no_secret_appears_in_config_errors() -> None:
    text = (
        "server:\n"
        "  port: ${SECRET}\n"
        "  api_keys: ${SECRET}\n"
        '  admin_key: ["${SECRET}"]\n'
        "providers:\n"
        "  oa:\n"
        "    type: openai\n"
        "    api_key: ${SECRET}\n"
        "    api_key_file: /run/secrets/oa\n"
        "    preset: ${SECRET}\n"
        '    headers: {Authorization: [Bearer, "${SECRET}"]}\n'
        "  an:\n"
        "    type: anthropic\n"
        '    api_key: ["${SECRET}"]\n'
        "    token: ${SECRET}\n"
        "models:\n"
        '  gpt: {provider: oa, model: gpt-4o, api_key: "${SECRET}"}\n'
    )
    found = problems(text, environ={"SECRET": SECRET})
    assert len(found) >= 8
    for problem in found:
        assert SECRET not in problem
        assert SECRET[:12] not in problem


# --------------------------------------------------------------------------- zero-config


def test_default_config_without_keys_serves_the_simulator_loudly() -> None:
    config, notices = default_config({})
    assert list(config.providers) == ["simulator"]
    assert isinstance(config.providers["simulator"], SimulatorProviderConfig)
    assert {"gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(config.models)
    assert config.models["text-embedding-3-small"].kind == "embeddings"
    assert all(d.provider == "simulator" for g in config.models.values() for d in g.deployments)
    (notice,) = notices
    assert "NO PROVIDER KEY FOUND" in notice and "SIMULATOR" in notice
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        assert variable in notice


def test_default_config_ignores_empty_keys() -> None:
    config, _ = default_config({"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""})
    assert list(config.providers) == ["simulator"]


def test_default_config_reads_os_environ_when_none_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    config, _ = default_config()
    assert list(config.providers) == ["gemini"]


def test_default_config_with_openai_key() -> None:
    config, notices = default_config({"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "http://proxy/v1"})
    assert list(config.providers) == ["openai"]
    provider = config.providers["openai"]
    assert isinstance(provider, OpenAIProviderConfig)
    assert provider.resolved_api_key() == SECRET
    assert provider.base_url == "http://proxy/v1"
    assert "gpt-4o" in config.models and "simulator" not in config.providers
    assert config.models["text-embedding-3-small"].kind == "embeddings"
    assert notices == ["zero-config: providers from the environment: openai"]
    assert all(SECRET not in notice for notice in notices)


def test_default_config_with_all_three_keys() -> None:
    environ = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "GEMINI_API_KEY": "g-key"}
    config, notices = default_config(environ)
    assert sorted(config.providers) == ["anthropic", "gemini", "openai"]
    assert {config.providers[name].resolved_api_key() for name in config.providers} == set(environ.values())
    deployments = {name: group.deployments[0].provider for name, group in config.models.items()}
    assert deployments["claude-sonnet-4-5"] == "anthropic"
    assert deployments["gemini-2.5-flash"] == "gemini"
    assert deployments["gpt-4o-mini"] == "openai"
    assert config.models["gemini-embedding-001"].kind == "embeddings"
    assert notices == ["zero-config: providers from the environment: anthropic, gemini, openai"]


def test_default_config_with_anthropic_key_only() -> None:
    config, _ = default_config({"ANTHROPIC_API_KEY": "sk-ant", "ANTHROPIC_BASE_URL": "http://a/"})
    assert list(config.providers) == ["anthropic"]
    assert config.providers["anthropic"].base_url == "http://a/"
    assert "gpt-4o" not in config.models
