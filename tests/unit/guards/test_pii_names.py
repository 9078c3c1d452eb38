"""The optional name-detector hook: loading by reference, merging with rule findings, masking names."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

import pytest

from bastion.guards.pii import ALL_KINDS, NAME_KINDS, Finding, Masker, PiiDetector
from bastion.guards.pii_names import NameDetector, NameSpan, load_name_detector


class FakeNer:
    """Tags capitalised words from a fixed list, as a model would, plus a few deliberate mistakes."""

    PEOPLE = ("Jane Doe", "Arjun")
    ORGS = ("Acme Corp",)

    def find_names(self, text: str) -> Iterable[NameSpan]:
        for kind, names in (("PERSON", self.PEOPLE), ("ORG", self.ORGS)):
            for name in names:
                start = text.find(name)
                if start >= 0:
                    yield kind, start, start + len(name)
        yield "GPE", 0, 3  # a kind we do not mask
        yield "PERSON", 5, 10_000  # past the end of the text


def test_names_merge_with_rule_findings() -> None:
    detector = PiiDetector(name_detector=FakeNer())
    text = "Jane Doe of Acme Corp, jane@acme.example, asked about Arjun's card 4111 1111 1111 1111"
    assert [(f.kind, f.text) for f in detector.find(text)] == [
        ("PERSON", "Jane Doe"),
        ("ORG", "Acme Corp"),
        ("EMAIL", "jane@acme.example"),
        ("PERSON", "Arjun"),
        ("CARD", "4111 1111 1111 1111"),
    ]


def test_rule_findings_win_over_overlapping_names() -> None:
    class GreedyNer:
        def find_names(self, text: str) -> Iterable[NameSpan]:
            return [("PERSON", 0, len(text))]  # a model that tags the whole text

    detector = PiiDetector(name_detector=GreedyNer())
    assert detector.find("mail a@example.com") == [Finding("EMAIL", 5, 18, "a@example.com")]


def test_name_kinds_can_be_selected() -> None:
    detector = PiiDetector({"ORG"}, name_detector=FakeNer())
    assert [f.kind for f in detector.find("Jane Doe of Acme Corp")] == ["ORG"]
    assert PiiDetector(name_detector=FakeNer()).kinds == ALL_KINDS | NAME_KINDS
    assert "PERSON" not in ALL_KINDS  # config validated against ALL_KINDS cannot ask for names


def test_names_are_masked_and_restored() -> None:
    masker = Masker(PiiDetector(name_detector=FakeNer()))
    masked = masker.mask("Jane Doe works at Acme Corp")
    assert masked == "<PERSON_1> works at <ORG_1>"
    assert masker.unmask("Dear <PERSON_1>") == "Dear Jane Doe"


@pytest.fixture
def detector_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("fake_ner_plugin")
    module.FakeNer = FakeNer  # type: ignore[attr-defined]
    module.instance = FakeNer()  # type: ignore[attr-defined]
    module.tag = lambda text: [("PERSON", 0, 4)] if text.startswith("Jane") else []  # type: ignore[attr-defined]
    module.nothing = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_ner_plugin", module)
    return module


@pytest.mark.parametrize("attribute", ["FakeNer", "instance", "tag"])
def test_load_name_detector_accepts_classes_instances_and_functions(
    detector_module: object, attribute: str
) -> None:
    detector = load_name_detector(f"fake_ner_plugin:{attribute}")
    assert isinstance(detector, NameDetector)
    assert PiiDetector({"PERSON"}, name_detector=detector).find("Jane Doe") != []


def test_load_name_detector_rejects_bad_references(detector_module: object) -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        load_name_detector("fake_ner_plugin")
    with pytest.raises(TypeError):
        load_name_detector("fake_ner_plugin:nothing")
    with pytest.raises(AttributeError):
        load_name_detector("fake_ner_plugin:missing")
    with pytest.raises(ModuleNotFoundError):
        load_name_detector("no_such_module_here:thing")
