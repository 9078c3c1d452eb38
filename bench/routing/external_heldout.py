#!/usr/bin/env python3
"""Build bench/routing/external_heldout.jsonl, the external held-out set of the ``model: auto`` classifier.

The set is the WizardLM test set (Xu et al. 2023, "WizardLM: Empowering Large Language Models to
Follow Complex Instructions"; github.com/nlpxucan/WizardLM, ``data/WizardLM_testset.jsonl`` at
commit 6526cfae2497cfb1a23476c808a8095cd378e486; data licence CC BY-NC 4.0): 218 instructions in 29
skills, collected by the authors from real users, each with a difficulty from 1 to 10 given by the
authors. Nobody on this project wrote, labelled or picked these prompts, and no cue lexicon was
written against them.

The label rule was fixed, and written into docs/routing.md, before any classifier was scored on
this set; it is applied to the authors' difficulty alone, never to our scores:

* difficulty 8-10 -> ``hard``. The authors' own line: their README calls difficulty level >= 8
  "the high-difficulty section of our test set" ("high-complexity instructions").
* difficulty 1-3 -> ``simple``: the lower end of the scale (the source defines no line there; this
  is the cut the docs announced in advance).
* difficulty 4-7 -> ``medium``: the rest.

Every one of the 218 rows is kept as published: none dropped, none relabelled, near-duplicates
(idx 20/27, 57/64, 59/61) left in. The set is for evaluation only: fit.py never reads it, and no
feature, weight or bound may be tuned on it.

    .venv/bin/python bench/routing/external_heldout.py PATH/TO/WizardLM_testset.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OUTPUT = Path(__file__).with_name("external_heldout.jsonl")
SOURCE = "wizardlm_testset"
SOURCE_REF = (
    "github.com/nlpxucan/WizardLM data/WizardLM_testset.jsonl "
    "@6526cfae2497cfb1a23476c808a8095cd378e486 (CC BY-NC 4.0)"
)
#: the declared rule, difficulty (1-10, the source's own) -> label; see the module docstring
LABEL_RULE = (
    "difficulty 1-3 simple, 4-7 medium, 8-10 hard "
    "(the source calls difficulty >= 8 its high-difficulty section)"
)


def label_of(difficulty: int) -> str:
    if not 1 <= difficulty <= 10:
        raise ValueError(f"difficulty out of range: {difficulty}")
    if difficulty >= 8:
        return "hard"
    if difficulty >= 4:
        return "medium"
    return "simple"


def record_of(row: dict) -> dict:
    idx, difficulty = int(row["idx"]), int(row["Difficulty"])
    record_id = f"wizardlm-{idx:03d}"
    return {
        "id": record_id,
        "label": label_of(difficulty),
        "source": SOURCE,
        "source_ref": f"{SOURCE_REF} idx {idx}",
        "difficulty": difficulty,
        "skill": row["Skill"],
        "style": "wizardlm-testset",
        "category": re.sub(r"[^a-z]+", "_", row["Skill"].lower()).strip("_"),
        "lang": "en",
        "group": record_id,
        "split": "external",
        "body": {"messages": [{"role": "user", "content": row["Instruction"]}]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("testset", type=Path, help="the upstream WizardLM_testset.jsonl")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.testset.read_text().splitlines() if line.strip()]
    if len(rows) != 218:
        raise SystemExit(f"expected the 218 rows of the WizardLM test set, got {len(rows)}")
    records = [record_of(row) for row in rows]
    OUTPUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    counts = {label: sum(r["label"] == label for r in records) for label in ("simple", "medium", "hard")}
    print(f"wrote {OUTPUT.name}: {len(records)} prompts {counts}; rule: {LABEL_RULE}")


if __name__ == "__main__":
    main()
