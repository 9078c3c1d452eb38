"""The optional hook for finding names of people and organisations with an NER model.

Names have no format to validate, so no rule finds them; a statistical model can. Bastion ships
none (no small English NER model installs from PyPI alone: spaCy's pipelines come from its own
release downloads), so this is a hook: any object with ``find_names(text)`` returning
``(kind, start, end)`` spans, kind ``PERSON`` or ``ORG``, can be given to ``PiiDetector``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

PERSON = "PERSON"
ORG = "ORG"
NAME_KINDS: frozenset[str] = frozenset({PERSON, ORG})

NameSpan = tuple[str, int, int]


@runtime_checkable
class NameDetector(Protocol):
    """Finds names in a text: ``(kind, start, end)`` spans with kind ``PERSON`` or ``ORG``."""

    def find_names(self, text: str) -> Iterable[NameSpan]: ...


class _FunctionNameDetector:
    """Adapts a plain ``text -> spans`` function to the ``NameDetector`` protocol."""

    def __init__(self, function: Callable[[str], Iterable[NameSpan]]) -> None:
        self._function = function

    def find_names(self, text: str) -> Iterable[NameSpan]:
        return self._function(text)


def load_name_detector(reference: str) -> NameDetector:
    """The name detector a ``"package.module:attribute"`` reference names, e.g. from the config.

    The attribute may be a ``NameDetector`` instance, a class (built without arguments) whose
    instances are ones, or a function ``text -> spans``.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"name detector reference must read 'module:attribute', got {reference!r}")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if isinstance(target, type):
        target = target()
    if isinstance(target, NameDetector):
        return target
    if callable(target):
        return _FunctionNameDetector(target)
    raise TypeError(f"{reference} is neither a NameDetector, a class of them nor a function")


def valid_name_spans(spans: Iterable[NameSpan], length: int) -> Iterable[NameSpan]:
    """The spans a detector returned that have a name kind and lie inside a text of ``length``.

    A model is outside code: a wrong kind or an out-of-range offset is dropped, not trusted.
    """
    for kind, start, end in spans:
        if kind in NAME_KINDS and 0 <= start < end <= length:
            yield kind, start, end
