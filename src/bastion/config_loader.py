"""Reading a config: YAML with line numbers, ``${ENV}`` interpolation, validation, zero-config defaults.

Errors are collected into one ``ConfigError`` whose lines read
``providers.openai.base_url (line 7): Input should be a valid string`` so an
operator can go straight to the mistake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bastion.config import BastionConfig

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists each with its path and line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid config {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def load_config_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> BastionConfig:
    """Load and validate a YAML config file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read file: {exc.strerror}"]) from None
    return load_config_text(text, source=source, environ=environ)


def load_config_text(
    text: str, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> BastionConfig:
    """Parse, interpolate and validate config text."""
    environ = os.environ if environ is None else environ
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"YAML syntax error{where}: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            source, ["the top level must be a mapping of sections (server, providers, models…)"]
        )
    lines = _line_index(root)
    problems: list[str] = []
    data = _interpolate(data, (), environ, lines, problems)
    if problems:
        raise ConfigError(source, problems)
    try:
        return BastionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error, lines) for error in exc.errors()]) from None


def _line_index(node: yaml.Node | None, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map each dotted path in the YAML tree to its 1-based line."""
    index: dict[tuple[str, ...], int] = {}
    if node is None:
        return index
    index[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            index.update(_line_index(value_node, child))
            index[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            index.update(_line_index(item, (*path, str(position))))
    return index


def _line_of(path: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    if path not in lines and path[:1] == ("models",) and path[2:4] == ("deployments", "0"):
        shorthand = path[:2] + path[4:]  # `name: {provider, model}` has no deployments list in the YAML
        if shorthand in lines:
            return lines[shorthand]
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _interpolate(
    value: Any,
    path: tuple[str, ...],
    environ: Mapping[str, str],
    lines: dict[tuple[str, ...], int],
    problems: list[str],
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, str(k)), environ, lines, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, str(i)), environ, lines, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            f"{'.'.join(path)} (line {_line_of(path, lines)}): environment variable {name} is not set "
            f"(use ${{{name}:-default}} for an optional value)"
        )
        return ""

    return _ENV_PATTERN.sub(substitute, value)


def _describe(error: Any, lines: dict[tuple[str, ...], int]) -> str:
    location = [str(part) for part in error["loc"]]
    # Discriminated unions put the tag in the location (providers.<name>.<type>.field): not a YAML key.
    if len(location) >= 3 and location[0] == "providers" and location[2] in _PROVIDER_TYPES:
        del location[2]
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not location:
        # cross-reference checks run on the whole config and name their own path: "a.b.c: problem"
        named, _, rest = message.partition(": ")
        if rest and " " not in named and "." in named:
            location, message = named.split("."), rest
    path = tuple(location)
    dotted = ".".join(path) or "(top level)"
    if error["type"] == "extra_forbidden":
        message = "unknown key (not a Bastion setting; check the spelling and docs/configuration.md)"
    elif error["type"] == "union_tag_invalid":
        message = (
            f"unknown provider type {error['ctx']['tag']!r}; expected one of {', '.join(_PROVIDER_TYPES)}"
        )
    elif error["type"] == "union_tag_not_found":
        message = f"missing 'type' (one of {', '.join(_PROVIDER_TYPES)})"
    line = _line_of(path, lines)
    where = f" (line {line})" if line else ""
    return f"{dotted}{where}: {message}"


_PROVIDER_TYPES = ("openai", "anthropic", "gemini", "simulator", "static")


def default_config(environ: Mapping[str, str] | None = None) -> tuple[BastionConfig, list[str]]:
    """The zero-config setup: providers from well-known environment variables, else the simulator.

    Returns the config and the notices to print loudly at start-up.
    """
    environ = os.environ if environ is None else environ
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    notices: list[str] = []
    if environ.get("OPENAI_API_KEY"):
        providers["openai"] = {"type": "openai", "api_key": environ["OPENAI_API_KEY"]}
        if environ.get("OPENAI_BASE_URL"):
            providers["openai"]["base_url"] = environ["OPENAI_BASE_URL"]
        for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini"):
            models[name] = {"provider": "openai", "model": name}
        models["text-embedding-3-small"] = {
            "provider": "openai",
            "model": "text-embedding-3-small",
            "kind": "embeddings",
        }
    if environ.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = {"type": "anthropic", "api_key": environ["ANTHROPIC_API_KEY"]}
        if environ.get("ANTHROPIC_BASE_URL"):
            providers["anthropic"]["base_url"] = environ["ANTHROPIC_BASE_URL"]
        for name in ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"):
            models[name] = {"provider": "anthropic", "model": name}
    if environ.get("GEMINI_API_KEY"):
        providers["gemini"] = {"type": "gemini", "api_key": environ["GEMINI_API_KEY"]}
        for name in ("gemini-2.5-flash", "gemini-2.5-pro"):
            models[name] = {"provider": "gemini", "model": name}
        models["gemini-embedding-001"] = {
            "provider": "gemini",
            "model": "gemini-embedding-001",
            "kind": "embeddings",
        }
    if providers:
        notices.append(f"zero-config: providers from the environment: {', '.join(sorted(providers))}")
    else:
        providers["simulator"] = {"type": "simulator", "ttft_ms": 150, "tokens_per_second": 80}
        for name in ("sim-fast", "gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"):
            models[name] = {"provider": "simulator", "model": name}
        models["text-embedding-3-small"] = {
            "provider": "simulator",
            "model": "sim-embed",
            "kind": "embeddings",
        }
        notices.append(
            "NO PROVIDER KEY FOUND (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY): serving the built-in "
            "SIMULATOR. Answers are synthetic. Set a key or pass --config to reach a real provider."
        )
    config = BastionConfig.model_validate({"providers": providers, "models": models})
    return config, notices
