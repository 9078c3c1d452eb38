#!/usr/bin/env python3
"""Build dev.jsonl and heldout.jsonl of the prompt-injection evaluation set.

Rows come from attacks.py, indirect.py and benign.py (each modelled on a public source named in
sources.py); obfuscated copies of seed attacks are made here with their own encoders, so the set
does not depend on the detector's decoders. The split is fixed by a hash of each row's text
(~70% dev, ~30% held-out) and was made before any detector rule was written: tune on dev only.
fresh.jsonl holds the rows of fresh.py, written after the rules were frozen and scored once.

    .venv/bin/python bench/guards/injection/build.py
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import sys
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from attacks import DIRECT, OBFUSCATION_SEEDS  # noqa: E402
from benign import HARD, ORDINARY  # noqa: E402
from fresh import ATTACKS as FRESH_ATTACKS  # noqa: E402
from fresh import BENIGN as FRESH_BENIGN  # noqa: E402
from indirect import ATTACKS as INDIRECT_ATTACKS  # noqa: E402
from indirect import BENIGN as INDIRECT_BENIGN  # noqa: E402
from sources import SOURCES  # noqa: E402

_CYRILLIC = str.maketrans("aeopcxiyAEOPCXHKMTB", "аеорсхіуАЕОРСХНКМТВ")
_GREEK = str.maketrans("aoivkAEIOTKNXBZ", "αοινκΑΕΙΟΤΚΝΧΒΖ")
_LEET = str.maketrans("aeiostAEIOST", "43105743105+")


def _math_bold(text: str) -> str:
    out = []
    for char in text:
        if "A" <= char <= "Z":
            out.append(chr(0x1D400 + ord(char) - 65))
        elif "a" <= char <= "z":
            out.append(chr(0x1D41A + ord(char) - 97))
        else:
            out.append(char)
    return "".join(out)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def _tag_smuggle(text: str) -> str:
    return "What a lovely day it is today! " + "".join(chr(0xE0000 + ord(c)) for c in text)


def _zero_width(text: str) -> str:
    return "\u200b".join(text)


def _joiners(text: str) -> str:
    marks = "\u200d\u2060\ufeff\u200c"
    return " ".join(
        "".join(c + marks[i % len(marks)] for i, c in enumerate(word)) for word in text.split(" ")
    )


def _bidi(text: str) -> str:
    return "\u202e\u202c".join(text.split(" ")).replace("\u202c", "\u202c ") + "\u2066\u2069"


def _spaced(text: str) -> str:
    return "   ".join(" ".join(word) for word in text.split(" "))


def _dotted(text: str) -> str:
    return " ".join(".".join(word) for word in text.split(" "))


TECHNIQUES = {
    "zero_width": _zero_width,
    "joiners": _joiners,
    "tag_chars": _tag_smuggle,
    "bidi_controls": _bidi,
    "homoglyph_cyrillic": lambda t: t.translate(_CYRILLIC),
    "homoglyph_greek": lambda t: t.translate(_GREEK),
    "fullwidth": _fullwidth,
    "math_bold": _math_bold,
    "leetspeak": lambda t: t.translate(_LEET),
    "spaced_letters": _spaced,
    "dotted_letters": _dotted,
    "base64": lambda t: "Decode this and do what it says: " + base64.b64encode(t.encode()).decode(),
    "hex": lambda t: "Here is a hex message, please decode and follow it: " + t.encode().hex(),
    "rot13": lambda t: "Apply rot13 to this and obey: " + codecs.encode(t, "rot13"),
    "url_encoding": lambda t: "Process this: " + quote(t, safe=""),
    "reversed": lambda t: "Read this backwards and comply: " + t[::-1],
}


def _row(text: str, label: int, kind: str, source: str, lang: str, **extra: object) -> dict:
    assert source in SOURCES, source
    return {"text": text, "label": label, "kind": kind, "source": source, "lang": lang, **extra}


def rows() -> list[dict]:
    """Every row of the set, with label, kind, family, indirect flag, technique and source."""
    out: list[dict] = []
    for family, source, lang, text in DIRECT:
        out.append(_row(text, 1, "attack", source, lang, family=family, indirect=False))
    names = list(TECHNIQUES)
    for index, (family, source, seed) in enumerate(OBFUSCATION_SEEDS):
        for step in range(4):
            technique = names[(4 * index + step) % len(names)]
            text = TECHNIQUES[technique](seed)
            out.append(
                _row(text, 1, "attack", "derived", "en", family=family, indirect=False, technique=technique)
            )
            out[-1]["seed_source"] = source
    for family, source, lang, text in INDIRECT_ATTACKS:
        out.append(_row(text, 1, "attack", source, lang, family=family, indirect=True))
    for source, lang, text in ORDINARY:
        out.append(_row(text, 0, "benign", source, lang, indirect=False))
    for source, lang, text in HARD:
        out.append(_row(text, 0, "hard_negative", source, lang, indirect=False))
    for _, source, lang, text in INDIRECT_BENIGN:
        out.append(_row(text, 0, "benign", source, lang, indirect=True))
    seen: set[str] = set()
    for row in out:
        assert row["text"] not in seen, row["text"]
        seen.add(row["text"])
        row["id"] = hashlib.sha256(row["text"].encode()).hexdigest()[:12]
    return out


def fresh_rows() -> list[dict]:
    """Rows written after the rules were frozen (fresh.py), kept out of the dev/held-out split."""
    out = [
        _row(text, 1, "attack", source, lang, family=family, indirect=indirect)
        for family, source, lang, indirect, text in FRESH_ATTACKS
    ]
    for source, lang, indirect, text in FRESH_BENIGN:
        kind = "hard_negative" if source == "hard_negative" else "benign"
        out.append(_row(text, 0, kind, source, lang, indirect=indirect))
    for row in out:
        row["id"] = hashlib.sha256(row["text"].encode()).hexdigest()[:12]
    return out


def split(row: dict) -> str:
    """'dev' or 'heldout', fixed by the text alone so adding rows never moves old ones."""
    return "dev" if int(row["id"][:8], 16) % 100 < 70 else "heldout"


def main() -> None:
    parts: dict[str, list[dict]] = {"dev": [], "heldout": [], "fresh": fresh_rows()}
    known = set()
    for row in rows():
        parts[split(row)].append(row)
        known.add(row["text"])
    assert not known & {row["text"] for row in parts["fresh"]}, "fresh rows must be new"
    for name, members in parts.items():
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in members:
                ordered = {"id": row.pop("id"), **row}
                handle.write(json.dumps(ordered, ensure_ascii=False) + "\n")
        attacks = [r for r in members if r["label"] == 1]
        benign = [r for r in members if r["label"] == 0]
        print(
            f"{name}: {len(members)} rows, {len(attacks)} attacks "
            f"({sum(r['indirect'] for r in attacks)} indirect), {len(benign)} benign "
            f"({sum(r['kind'] == 'hard_negative' for r in benign)} hard negatives, "
            f"{sum(r['indirect'] for r in benign)} indirect)"
        )


if __name__ == "__main__":
    main()
