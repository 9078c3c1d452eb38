"""The ``model: "auto"`` complexity classifier: which tier of model a chat request needs.

A transparent linear model: 35 named features of the request, each scaled to [0, 1] (prompt
length, code, math, proof and reasoning cues, constraints, tools, conversation depth and what the
earlier turns were about, pasted material, question type, script...), are weighted and summed
into two logits, "harder than simple" and "hard"; the score is the mean of their probabilities
(half the expected tier index) and ascending score bounds pick the tier (``small`` / ``medium`` /
``premium`` by default). The weights were fitted by ``bench/routing/fit.py`` (two L2-regularised
logistic regressions) on the train split of ``bench/routing/prompts.jsonl`` and ship in
``complexity_weights.json``; docs/routing.md has the evaluation.

The reason given with a decision names the features that pushed the score most (towards the
tier chosen), so an operator can read why a request went where it did; it is ASCII and short,
fit for the ``x-bastion-route-reason`` header.

Pure Python, no numpy, no network: a classification reads at most ``SCAN_CHARS`` characters of
the last user turn, which keeps it under a millisecond on any prompt. It never raises:
a body it cannot read is sent to the highest tier with the reason ``unclassifiable`` (a
misroute upwards costs money, one downwards costs answer quality).

``EmbeddingComplexityClassifier`` is the optional variant that adds the last user turn's
embedding by the local MiniLM embedder (``bastion-gateway[semantic]``) to the features, with a
head of the same form fitted on the same data; it needs numpy and takes milliseconds, and on our
data it is no more accurate (docs/routing.md), so it is only used when configured.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.cache.embedders import LocalEmbedder

__all__ = [
    "DEFAULT_THRESHOLDS",
    "UNCLASSIFIABLE",
    "ComplexityClassifier",
    "Decision",
    "EmbeddingComplexityClassifier",
    "Features",
    "Weights",
    "extract_features",
]

WEIGHTS_PATH = Path(__file__).with_name("complexity_weights.json")
EMBEDDING_WEIGHTS_PATH = Path(__file__).with_name("complexity_embedding_weights.json")

#: used only when no thresholds are given and the weights file carries none
DEFAULT_THRESHOLDS: tuple[tuple[str, float], ...] = (("small", 0.35), ("medium", 0.7), ("premium", 1.0))
UNCLASSIFIABLE = "unclassifiable"
MAX_REASON_CHARS = 200

# The last user turn is read up to this many characters: its head and its tail (instructions
# sit at either end of a pasted document), so a 1 MB prompt costs what a 3 KB one does. Python
# reads text at ~30 ns a character a pass here, so this bound is what keeps p99 under 1 ms;
# the rest of a longer turn still counts in its length.
SCAN_CHARS = 3072
_TAIL_CHARS = 1024
# Earlier user turns are read up to this many characters (the latest first): a short follow-up
# ("what if it is not a binary tree?") is as hard as the task it follows.
_EARLIER_CHARS = 1536
# Lengths are scaled on a log axis: log1p(tokens) / log1p(this) is 1.0 at this many tokens.
_LENGTH_SCALE_TOKENS = 2000
_CONTEXT_SCALE_TOKENS = 8000
_MAX_DEPTH = 8
# A turn this long whose first line (or last paragraph) is this short reads as an ask over
# pasted material
_PAYLOAD_MIN_CHARS = 400
_INSTRUCTION_CHARS = 300


# ------------------------------------------------------------------------------------- features


@dataclass(frozen=True, slots=True)
class Features:
    """Named features of one chat request, each in [0, 1]."""

    length: float  # tokens of the last user turn, log-scaled
    context: float  # tokens of everything before it (earlier turns, system prompt), log-scaled
    depth: float  # earlier user turns
    code: float  # code fences and code-like tokens in the text
    code_task: float  # asks for programming work
    math: float  # math notation, LaTeX and math vocabulary
    proof: float  # prove / derive / show that
    reasoning: float  # step by step, analyze, trade-offs, why, justify...
    compare: float  # compare, versus, pros and cons, differences between
    explain: float  # explain, describe, how does, what causes, tips
    theory: float  # vocabulary of theory-heavy topics (undecidable, convex, quantum, asymptotic...)
    design: float  # architecture, scale, consistency, concurrency
    algorithms: float  # complexity bounds, input sizes, named algorithms and data structures
    expert: float  # legal, medical, financial, statistical vocabulary
    constraints: float  # bullets, numbered requirements, must / at least / exactly...
    long_output: float  # essay, detailed, report, comprehensive, N words
    writing: float  # email, letter, story, poem, post...
    simple_ask: float  # translate, define, synonym, capital of, joke, greetings...
    howto: float  # how do I, how to, what command, keyboard shortcut (a quick practical answer)
    short_list: float  # give me three..., list five..., name four... (a short list of items)
    factoid: float  # one short wh- or yes/no question
    roleplay: float  # act as, imagine you are, take on the role of...
    puzzle: float  # riddle, puzzle, logic, trick question, true/false/uncertain
    contest_math: float  # how many ways, probability that, find all, divisible by, remainder when...
    word_problem: float  # everyday quantities: prices, totals, hours, miles, "each", "per"
    arithmetic: float  # a bare calculation: 12 * 13, 15% of 80, 7 plus 5
    payload: float  # share of the turn outside its ask: pasted text, data or code to work on
    earlier_technical: float  # math, code, proof, algorithm, puzzle cues in earlier user turns
    numbers: float  # numerals in the text (word problems, data)
    sentences: float  # sentences of the ask beyond the first (a pasted passage does not count)
    non_english: float  # share of letters outside ASCII
    tools: float  # tools offered
    tool_results: float  # tool calls or tool results already in the conversation
    json_schema: float  # response_format json_schema
    images: float  # image parts in the last user turn

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in FEATURE_NAMES}


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Features))

#: how each feature reads in a reason header
FEATURE_LABELS: dict[str, str] = {
    "length": "long prompt",
    "context": "long context",
    "depth": "deep conversation",
    "code": "code",
    "code_task": "programming task",
    "math": "math",
    "proof": "proof/derivation",
    "reasoning": "multi-step reasoning",
    "compare": "comparison",
    "explain": "explanation",
    "theory": "theory",
    "design": "system design",
    "algorithms": "algorithms",
    "expert": "expert domain",
    "constraints": "many constraints",
    "long_output": "long output",
    "writing": "writing task",
    "simple_ask": "simple ask",
    "howto": "how-to",
    "short_list": "short list",
    "factoid": "short question",
    "roleplay": "role-play",
    "puzzle": "puzzle",
    "contest_math": "contest math",
    "word_problem": "word problem",
    "arithmetic": "arithmetic",
    "payload": "pasted material",
    "earlier_technical": "technical conversation",
    "numbers": "numbers",
    "sentences": "several sentences",
    "non_english": "non-English",
    "tools": "tools",
    "tool_results": "tool results",
    "json_schema": "json schema",
    "images": "images",
}
# What a low score is read as when no feature pushed it down
_SHORT_LABEL = "short request"


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """Cues of one feature: whole words, word prefixes, phrases of several words, and substrings
    of the raw text (scripts written without spaces). Matched word by word, never by one large
    regular-expression alternation: that costs milliseconds on a long prompt."""

    words: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()


def _lexicon(words: str = "", prefixes: str = "", phrases: str = "", substrings: str = "") -> _Lexicon:
    return _Lexicon(
        frozenset(words.split()),
        tuple(prefixes.split()),
        tuple(p.strip() for p in phrases.split(",") if p.strip()),
        tuple(substrings.split()),
    )


_LEXICONS: dict[str, _Lexicon] = {
    "code_keywords": _lexicon(
        "def return import class function const let var func fn struct impl public static void int char "
        "printf println async await lambda include"
    ),
    "code_task": _lexicon(
        "code coding function functions method script program python javascript typescript java golang "
        "rust sql regex bash api class bug bugs exception segfault kubernetes react git html css website",
        "implement refactor debug compil deadlock docker",
        "unit test, unit tests, stack trace",
        "c++ 函数 代码 実装 구현",
    ),
    "math": _lexicon(
        "integral integrate derivative polynomial equation equations inequality probability matrix "
        "theorem lemma prime primes integer integers modulo remainder recurrence series variance "
        "determinant permutation permutations triangle geometry differential",
        "eigen combinator",
        "expected value, expected number, vector space, solve for, real numbers, function f, functions f",
        "方程 积分 概率 整除 行列 確率 방정식",
    ),
    "proof": _lexicon(
        "prove proof proofs proving derive derivation rigorous rigorously demuestra démontre dimostra deriva",
        "demonstrat beweis докаж доказ",
        "show that",
        "证明 推导 証明 증명",
    ),
    "theory": _lexicon(
        "undecidable undecidability incompleteness convex riemann quintic quantum halting turing manifold "
        "stochastic entropy relativity backpropagation gradient lagrange fourier scattering irrational "
        "uncountable",
        "converg cryptograph asymptot topolog bayes gödel godel",
        "np complete, p np, black scholes, polynomial time, closed form, shor s",
    ),
    "reasoning": _lexicon(
        "why analyze analyse analysis evaluate assess justify critique critically reason reasoning "
        "implications implication recommend diagnose investigate tradeoff tradeoffs",
        "weigh analiz analysier анализ сравн",
        "step by step, trade off, trade offs, explain why, root cause, paso a paso, schritt für schritt",
        "分析 权衡 一步一步 단계 분석",
    ),
    "compare": _lexicon(
        "compare comparing comparison contrast versus vs advantages disadvantages ventajas desventajas",
        "compar vergleich",
        "pros and cons, difference between, differences between",
        "比较 比較 비교",
    ),
    "explain": _lexicon(
        "explain explique erkläre spiega describe describir tips",
        "объясни",
        "how does, how do, how can, how should, how would, what causes, what caused, what are some, "
        "what were the, what are the main, ways to, why do, why does, why is, why are, walk me through, "
        "help me understand",
        "解释 説明 설명 とは",
    ),
    "design": _lexicon(
        "design distributed latency throughput atomic failover qps rps engine parser compiler interpreter "
        "emulator allocator kernel",
        "architect scal consisten shard replica concurren idempoten migrat partition",
        "race condition, lock free, fault tolerant, fault tolerance, multi tenant, from scratch",
        "p99 分布式 架构 一致性 設計",
    ),
    "algorithms": _lexicon(
        "complexity greedy graph tree bfs dfs heap trie hashmap suffix automaton matching invariant "
        "invariants sorted array arrays",
        "algorithm optimal subarray substring",
        "dynamic programming, shortest path, segment tree, hash map, binary search, max flow, np hard",
        "算法 アルゴリズム 알고리즘 复杂度 計算量 복잡도",
    ),
    "expert": _lexicon(
        "clause statute jurisdiction gdpr contract compliance patient differential clinical dosage "
        "dilution arr valuation portfolio regression hypothesis identification security",
        "enforceab liabilit legal diagnos symptom tax causal econometric empiric epidemiolog attack",
        "p value, confidence interval",
    ),
    "constraints": _lexicon(
        "must should exactly without ensure each every include including requirement requirements "
        "constraint constraints avoid never",
        "",
        "at least, at most, no more than, fewer than, less than, only use, do not, don t",
    ),
    "long_output": _lexicon(
        "essay detailed report comprehensive thorough thoroughly full complete whitepaper proposal "
        "curriculum",
        "",
        "in depth, white paper, post mortem",
    ),
    "writing": _lexicon(
        "write draft compose create develop generate plan outline itinerary schedule recipe template "
        "checklist story poem blog letter email speech toast lyrics newsletter agenda script description "
        "listing posting escribe redacta rédige écris schreibe scrivi escreva напиши",
        "",
        "press release, lesson plan, meal plan",
        "写一 寫 書いて プラン 작성 추천",
    ),
    "simple_ask": _lexicon(
        "translate translation synonym antonym define definition joke rephrase paraphrase reword shorten "
        "classify categorize categorise alphabetical another round convert capitalize capitalise emoji tense "
        "weather umbrella temperature shortcut corrige corrija korrigiere",
        "spell",
        "how do you say, how do i say, what is the capital, capital of, opposite of, fun fact, "
        "fix the grammar, "
        "fix the spelling, fix the punctuation, fix any typos, correct the spelling, rewrite this, "
        "rewrite the following, make this sound, make it shorter, make this shorter, make this sentence, "
        "one sentence, one line, short title, main topic, in a few words, name three, name four, name five, "
        "list three, list five, list the, who is, who was, who wrote, who painted, who invented, "
        "who directed, "
        "count how many, sort these, which of these, odd one out, recommend a, suggest a, what time, "
        "turn this into, title case, positive or negative, question or a statement, "
        "how many legs, how many minutes, how many seconds, how many days, how many continents, "
        "how many players, how many ounces, what year, when was, when did",
        "翻译 首都 수도 とは何 ですか",
    ),
    "howto": _lexicon(
        "shortcut",
        "",
        "how do i, how do you, how to, how can i, what command, which command, what is the command, "
        "what s the command, keyboard shortcut, what does the, file extension, is there a way to",
        "怎么 如何 どうやって 방법",
    ),
    "roleplay": _lexicon(
        "roleplay persona pretend",
        "",
        "act as, acting as, imagine you are, imagine yourself, imagine you re, take on the role, "
        "assume the role, play the role, role of, speak like, in the style of, you are a, you are an, "
        "stay in character",
    ),
    "puzzle": _lexicon(
        "riddle riddles puzzle puzzles brainteaser logic logical logically deduce deduction paradox",
        "",
        "trick question, true or false, true false or uncertain, lateral thinking",
    ),
    "contest_math": _lexicon(
        "divisible coprime digits combinatorics inequality",
        "",
        "how many ways, how many positive, how many integers, how many distinct, probability that, "
        "expected number, at random, uniformly at random, positive integers, positive integer, "
        "divided by, remainder when, sum of all, find all, real solutions, minimum value, maximum value, "
        "closed form, in terms of",
    ),
    "word_problem": _lexicon(
        "cost costs price priced buys bought sells sold spends spent earns earned pays paid saves "
        "dollars cents each per total left miles kilometers hours minutes pages tickets apples "
        "salary discount budget weekly daily",
    ),
}
_LEXICON_NAMES = tuple(_LEXICONS)
_LEXICON_LIST = tuple(_LEXICONS.values())
# phrases by their first word, so only phrases whose first word occurs are searched for
_PHRASES_BY_FIRST_WORD: dict[str, list[tuple[int, str]]] = {}
for _index, _lex in enumerate(_LEXICON_LIST):
    for _phrase in _lex.phrases:
        _PHRASES_BY_FIRST_WORD.setdefault(_phrase.split()[0], []).append((_index, f" {_phrase} "))
_SUBSTRINGS = tuple((index, s) for index, lex in enumerate(_LEXICON_LIST) for s in lex.substrings)
_GREETINGS = frozenset(
    {"hi", "hello", "hey", "thanks", "thank", "ok", "okay", "cool", "haha", "lol", "perfect"}
)
_GREETING_PHRASES = ("good morning", "good night", "and in ", "and of ")

_WORD = re.compile(r"[^\W\d_]+")
_NON_ASCII = re.compile(r"[\x00-\x7f]+")
_CODE_FENCE = re.compile(r"```|~~~")
_CODE_SYNTAX = re.compile(r"=>|->|::|==|!=|\+=|&&|\|\||[{};]$|\w\(", re.MULTILINE)
_MATH_NOTATION = re.compile(
    r"\$(?!\d)[^$\n]{1,200}\$|\\[a-z]+|[∫∑∏√≤≥≠∞πθ±∈∀∃]|\^\s*\{?-?\w|\d\s*[-+*/^]\s*\d+\s*=|\|[a-z]\s*[-+]"
)
_BIG_O = re.compile(r"O\([^)]{1,20}\)|10\^\d")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_WORD_COUNT = re.compile(r"\b\d[\d,]{2,}\s*words?\b")
_MEANING = re.compile(r"what does .{1,30}? (?:mean|stand for)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# the digit is factored out of the first two alternatives: a third faster on long prompts
_ARITHMETIC = re.compile(
    r"\d(?:\s*(?:[-+*/×÷^]|x|times|plus|minus|divided by|multiplied by)\s*\d|\s*(?:%|percent) of)"
    r"|square root of \d"
)
_MONEY = re.compile(r"[$€£]\s?\d")
_SHORT_LIST = re.compile(
    r"\b(?:give me|list|name|suggest|tell me)\s+(?:\d{1,2}|one|two|three|four|five|six|seven|a few|some)\b"
)
_FACTOID_START = (
    "what",
    "who",
    "when",
    "where",
    "which",
    "how many",
    "how much",
    "how long",
    "how far",
    "how old",
    "is ",
    "are ",
    "does ",
    "do ",
    "can ",
    "did ",
    "was ",
    "were ",
)
# the end of a sentence followed by more text (so one question counts 0)
_SENTENCE_END = re.compile(r"[.!?。！？]\s+(?=\S)")

_WORD_CACHE: dict[str, tuple[int, ...]] = {}
_WORD_CACHE_LIMIT = 50_000


def _lexicons_of(word: str) -> tuple[int, ...]:
    """Which lexicons a word belongs to; cached, since most words recur across requests."""
    hits = _WORD_CACHE.get(word)
    if hits is None:
        hits = tuple(
            index
            for index, lex in enumerate(_LEXICON_LIST)
            if word in lex.words or (lex.prefixes and word.startswith(lex.prefixes))
        )
        if len(_WORD_CACHE) >= _WORD_CACHE_LIMIT:
            _WORD_CACHE.clear()
        _WORD_CACHE[word] = hits
    return hits


def _cue_counts(text: str, words: list[str], has_non_ascii: bool) -> dict[str, int]:
    """Occurrences of each lexicon's cues in ``text`` (lower-cased) and its ``words``."""
    counts = [0] * len(_LEXICON_LIST)
    occurrences = Counter(words)
    for word, times in occurrences.items():
        for index in _lexicons_of(word):
            counts[index] += times
    joined = " " + " ".join(words) + " "
    for first in occurrences.keys() & _PHRASES_BY_FIRST_WORD.keys():
        for index, phrase in _PHRASES_BY_FIRST_WORD[first]:
            counts[index] += joined.count(phrase)
    if has_non_ascii or "+" in text:
        for index, substring in _SUBSTRINGS:
            counts[index] += text.count(substring)
    result = dict(zip(_LEXICON_NAMES, counts, strict=True))
    if (words and words[0] in _GREETINGS) or text.startswith(_GREETING_PHRASES):
        result["simple_ask"] += 1
    result["simple_ask"] += len(_MEANING.findall(text[:300]))
    return result


@dataclass(slots=True)
class _Conversation:
    last_user: str
    earlier_characters: int
    user_turns: int
    tool_results: bool
    images: bool
    earlier_user: str = ""  # the earlier user turns, latest first, at most _EARLIER_CHARS


def _text_of(content: Any) -> tuple[str, bool]:
    """The text of a message's content and whether it holds an image."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    texts: list[str] = []
    images = False
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("image_url", "image", "input_image"):
            images = True
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts), images


def _read_conversation(messages: Any) -> _Conversation:
    if not isinstance(messages, list):
        raise TypeError("messages must be a list")
    last_index = -1
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            last_index = index
            break
    earlier = 0
    user_turns = 0
    tool_results = False
    last_user, images = "", False
    earlier_user: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            user_turns += 1
        if role in ("tool", "function") or message.get("tool_calls"):
            tool_results = True
        text, has_images = _text_of(message.get("content"))
        if index == last_index:
            last_user, images = text, has_images
        else:
            earlier += len(text)
            if role == "user" and index < last_index:
                earlier_user.append(text[:_EARLIER_CHARS])
    # the latest earlier turns say most about what the last one continues
    recent = "\n".join(reversed(earlier_user))[:_EARLIER_CHARS] if earlier_user else ""
    return _Conversation(last_user, earlier, user_turns, tool_results, images, recent)


def _scanned(text: str) -> str:
    if len(text) <= SCAN_CHARS:
        return text
    return text[: SCAN_CHARS - _TAIL_CHARS] + "\n" + text[-_TAIL_CHARS:]


def _estimate_tokens(text: str, non_ascii: int) -> float:
    # four characters a token for ASCII text; scripts outside it (CJK above all) pack fewer
    # characters into a token, about one and a half
    return (len(text) - non_ascii) / 4 + non_ascii / 1.5


def _log_scale(tokens: float, full_scale: float) -> float:
    return min(1.0, math.log1p(max(tokens, 0.0)) / math.log1p(full_scale))


def _guarded(pattern: re.Pattern[str], text: str, needles: tuple[str, ...]) -> int:
    """Matches of ``pattern``, searched for only when a literal it needs occurs (a cheap test)."""
    return len(pattern.findall(text)) if any(needle in text for needle in needles) else 0


def _share(hits: int, full_scale: float) -> float:
    return min(1.0, hits / full_scale)


def _ask(text: str) -> str:
    """The words of the request itself, without the material pasted into it to work on.

    A long turn (at least ``_PAYLOAD_MIN_CHARS``) reads as an ask over pasted material when its
    first line, or its last paragraph (the text after its last blank line), is short (at most
    ``_INSTRUCTION_CHARS``): the ask is that part, or both when both are short ("Evaluate these
    reviews:" ... "Return a JSON array."). The end is read by paragraph, not by line, because
    pasted data often ends in short lines of its own. Otherwise the whole turn is the ask.

    Cues are read from the ask alone: the words of a pasted passage (dates, figures, planning or
    legal vocabulary) say what the passage is about, not what is asked of it. The passage counts
    only in ``length`` and ``payload``.
    """
    if len(text) < _PAYLOAD_MIN_CHARS:
        return text
    first = text.find("\n")
    if first < 0:
        return text
    head = text[:first]
    stripped = text.rstrip()
    gap = stripped.rfind("\n\n")
    tail = stripped[gap + 2 :].strip() if gap >= 0 else ""
    head_is_short = len(head) <= _INSTRUCTION_CHARS
    tail_is_short = 0 < len(tail) <= _INSTRUCTION_CHARS
    if head_is_short and tail_is_short:
        return head + "\n" + tail
    if head_is_short:
        return head
    if tail_is_short:
        return tail
    return text


def _factoid(lowered: str, words: list[str]) -> float:
    """1.0 for one short question (what / who / is... and a single sentence): a lookup."""
    stripped = lowered.strip()
    if len(words) > 15 or not stripped.startswith(_FACTOID_START) or _SENTENCE_END.search(stripped):
        return 0.0
    return 1.0


_TECHNICAL_CUES = (
    "math", "proof", "theory", "algorithms", "code_task", "code_keywords", "contest_math", "puzzle",
    "design", "reasoning",
)  # fmt: skip


def _earlier_technical(earlier_user: str) -> float:
    """Technical cues in the earlier user turns, so a follow-up inherits its task's difficulty."""
    if not earlier_user:
        return 0.0
    lowered = earlier_user.lower()
    cues = _cue_counts(lowered, _WORD.findall(lowered), not earlier_user.isascii())
    hits = sum(cues[name] for name in _TECHNICAL_CUES) + len(_MATH_NOTATION.findall(earlier_user))
    return _share(hits, 4)


def extract_features(body: dict[str, Any]) -> Features:
    """The features of an OpenAI chat body; raises on a body without a list of messages."""
    conversation = _read_conversation(body.get("messages"))
    full_text = conversation.last_user
    text = _scanned(full_text)
    ask = _ask(text)
    lowered = ask.lower()
    words = _WORD.findall(lowered)
    non_ascii_text = 0 if text.isascii() else len(_NON_ASCII.sub("", text))
    non_ascii = non_ascii_text if ask is text else (0 if ask.isascii() else len(_NON_ASCII.sub("", ask)))
    if non_ascii:
        letters = sum(map(len, words))
        foreign = sum(len(word) for word in words if not word.isascii())
        non_english = foreign / letters if letters else 0.0
    else:
        non_english = 0.0
    scale = len(full_text) / len(text) if text else 1.0
    cues = _cue_counts(lowered, words, non_ascii > 0)
    tools = body.get("tools")
    tool_count = len(tools) if isinstance(tools, list) else 0
    response_format = body.get("response_format")
    json_schema = isinstance(response_format, dict) and response_format.get("type") == "json_schema"
    fences = len(_CODE_FENCE.findall(ask))
    code_hits = cues["code_keywords"] + len(_CODE_SYNTAX.findall(ask))
    return Features(
        length=_log_scale(_estimate_tokens(text, non_ascii_text) * scale, _LENGTH_SCALE_TOKENS),
        context=_log_scale(conversation.earlier_characters / 4, _CONTEXT_SCALE_TOKENS),
        depth=min(1.0, max(conversation.user_turns - 1, 0) / _MAX_DEPTH),
        code=1.0 if fences >= 2 else _share(code_hits, 8),
        code_task=_share(cues["code_task"], 3),
        math=_share(cues["math"] + len(_MATH_NOTATION.findall(ask)), 4),
        proof=_share(cues["proof"], 2),
        reasoning=_share(cues["reasoning"], 3),
        compare=_share(cues["compare"], 2),
        explain=_share(cues["explain"], 2),
        theory=_share(cues["theory"], 2),
        design=_share(cues["design"], 3),
        algorithms=_share(cues["algorithms"] + _guarded(_BIG_O, ask, ("O(", "10^")), 3),
        expert=_share(cues["expert"], 3),
        constraints=_share(cues["constraints"] + _guarded(_BULLET, ask, ("\n", "-", "*", "•", ".", ")")), 8),
        long_output=_share(cues["long_output"] + _guarded(_WORD_COUNT, lowered, ("word",)), 2),
        writing=_share(cues["writing"], 2),
        simple_ask=_share(cues["simple_ask"], 2),
        howto=_share(cues["howto"], 1),
        short_list=_share(len(_SHORT_LIST.findall(lowered[:300])), 1),
        factoid=_factoid(lowered, words),
        roleplay=_share(cues["roleplay"], 2),
        puzzle=_share(cues["puzzle"], 2),
        contest_math=_share(cues["contest_math"], 2),
        word_problem=_share(cues["word_problem"] + len(_MONEY.findall(ask)), 4),
        arithmetic=_share(len(_ARITHMETIC.findall(lowered)), 2),
        payload=1.0 - len(ask) / len(text) if text else 0.0,
        earlier_technical=_earlier_technical(conversation.earlier_user),
        numbers=_share(len(_NUMBER.findall(ask)), 8),
        sentences=min(1.0, len(_SENTENCE_END.findall(ask)) / 6),
        non_english=non_english,
        tools=min(1.0, tool_count / 4),
        tool_results=1.0 if conversation.tool_results else 0.0,
        json_schema=1.0 if json_schema else 0.0,
        images=1.0 if conversation.images else 0.0,
    )


# ---------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Weights:
    """A linear model over :class:`Features`, with one logit or two.

    With one, ``score = sigmoid(bias + sum(w * x))``. With two (what ``bench/routing/fit.py``
    ships), ``bias`` and ``coefficients`` are a logistic regression for "harder than simple" and
    ``hard_bias`` and ``hard_coefficients`` one for "hard"; the score is the mean of their two
    probabilities, which is half the expected tier index (0 small, 1 medium, 2 premium). Two
    logits let a feature mark the middle tier: a writing task is unlike a simple ask and unlike
    a hard one, which one score line cannot say.

    ``means`` are the features' averages on the training set: a reason names the features whose
    ``w * (x - mean)`` pushed this request's score furthest from a typical one.
    """

    bias: float
    coefficients: dict[str, float]
    thresholds: tuple[tuple[str, float], ...] = DEFAULT_THRESHOLDS
    means: dict[str, float] = field(default_factory=dict)
    hard_bias: float = 0.0
    hard_coefficients: dict[str, float] | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Weights:
        coefficients = _coefficients(data["coefficients"])
        hard = data.get("hard_coefficients")
        thresholds = tuple((str(name), float(bound)) for name, bound in data.get("thresholds", ()))
        means = {str(k): float(v) for k, v in data.get("means", {}).items()}
        return cls(
            float(data["bias"]),
            coefficients,
            thresholds or DEFAULT_THRESHOLDS,
            means,
            float(data.get("hard_bias", 0.0)),
            _coefficients(hard) if hard is not None else None,
        )

    @classmethod
    def load(cls, path: str | Path) -> Weights:
        return cls.from_mapping(json.loads(Path(path).read_text()))

    @classmethod
    def shipped(cls) -> Weights:
        """The weights fitted by bench/routing/fit.py and shipped in the package."""
        return cls.load(WEIGHTS_PATH)


def _coefficients(mapping: dict[str, Any]) -> dict[str, float]:
    coefficients = {str(k): float(v) for k, v in mapping.items()}
    unknown = set(coefficients) - set(FEATURE_NAMES)
    if unknown:
        raise ValueError(f"unknown features in the weights: {', '.join(sorted(unknown))}")
    return coefficients


@dataclass(frozen=True, slots=True)
class Decision:
    """The tier a request goes to, its score in [0, 1], and why (ASCII, at most 200 characters)."""

    tier: str
    score: float
    reason: str


def _check_thresholds(thresholds: list[tuple[str, float]] | tuple[tuple[str, float], ...]) -> None:
    if not thresholds:
        raise ValueError("at least one tier is needed")
    bounds = [bound for _, bound in thresholds]
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
        raise ValueError("tier bounds must ascend")
    if bounds[-1] < 1.0:
        raise ValueError("the last tier's bound must be 1.0, so every score has a tier")


def _header_safe(text: str) -> str:
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    printable = "".join(ch if " " <= ch <= "~" else " " for ch in ascii_text)
    return printable[:MAX_REASON_CHARS]


def _tier_of(score: float, thresholds: tuple[tuple[str, float], ...]) -> str:
    for name, bound in thresholds:
        if score <= bound:
            return name
    return thresholds[-1][0]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _unclassifiable(thresholds: tuple[tuple[str, float], ...]) -> Decision:
    return Decision(thresholds[-1][0], 1.0, UNCLASSIFIABLE)


class ComplexityClassifier:
    """Picks a tier for a chat request from its features, with the weights shipped in the package."""

    def __init__(
        self,
        thresholds: list[tuple[str, float]] | None = None,
        weights: Weights | None = None,
    ) -> None:
        self.weights = weights or Weights.shipped()
        chosen = tuple(thresholds) if thresholds is not None else self.weights.thresholds
        _check_thresholds(chosen)
        self.thresholds: tuple[tuple[str, float], ...] = chosen
        up = self.weights.coefficients
        hard = self.weights.hard_coefficients
        self._two_logits = hard is not None
        # (name, weight on "harder than simple", weight on "hard", training mean); a one-logit
        # model uses its weights for both
        self._coefficients = [
            (name, up.get(name, 0.0), (hard or up).get(name, 0.0), self.weights.means.get(name, 0.0))
            for name in FEATURE_NAMES
        ]

    @property
    def tiers(self) -> list[str]:
        return [name for name, _ in self.thresholds]

    def classify(self, body: dict[str, Any]) -> Decision:
        """The tier for ``body``; never raises (an unreadable body goes to the highest tier)."""
        try:
            features = extract_features(body)
            z_up = self.weights.bias
            z_hard = self.weights.hard_bias
            values = []
            for name, up, hard, mean in self._coefficients:
                value = getattr(features, name)
                z_up += up * value
                z_hard += hard * value
                values.append((name, up, hard, value - mean))
            score = (_sigmoid(z_up) + _sigmoid(z_hard)) / 2 if self._two_logits else _sigmoid(z_up)
            tier = _tier_of(score, self.thresholds)
            return Decision(tier, score, self._reason(tier, score, values))
        except Exception:
            return _unclassifiable(self.thresholds)

    def _reason(self, tier: str, score: float, values: list[tuple[str, float, float, float]]) -> str:
        # Name the features present more than on a typical request that pushed towards the tier
        # chosen: up for any tier but the lowest, down for the lowest. The top tier is read on
        # the "hard" logit, the others on "harder than simple".
        lowest = tier == self.thresholds[0][0]
        on_hard = tier == self.thresholds[-1][0] and len(self.thresholds) > 1
        pushes = []
        for name, up, hard, excess in values:
            push = (hard if on_hard else up) * excess
            if excess > 0 and (push < 0) == lowest:
                pushes.append((abs(push), name))
        names = [FEATURE_LABELS[name] for size, name in sorted(pushes, reverse=True)[:2] if size > 0.1]
        if not names:
            names = [_SHORT_LABEL if lowest else "no strong signal"]
        return _header_safe(f"{'+'.join(names)} (score {score:.2f})")


# ----------------------------------------------------------------------- embedding-based variant


class EmbeddingComplexityClassifier:
    """The same decision from the last user turn's MiniLM embedding plus the features.

    Logistic heads over [embedding, features] of the same two-logit form as :class:`Weights`,
    fitted on the same data (``bench/routing/fit.py --embedding``), ship in
    ``complexity_embedding_weights.json``. Needs
    ``bastion-gateway[semantic]`` and the model package; ``classify`` embeds in a worker thread
    (milliseconds), ``classify_sync`` on the calling thread. Never raises once built.
    """

    def __init__(
        self,
        embedder: LocalEmbedder | None = None,
        thresholds: list[tuple[str, float]] | None = None,
        weights_path: str | Path = EMBEDDING_WEIGHTS_PATH,
    ) -> None:
        from bastion.cache.embedders import LocalEmbedder
        from bastion.cache.semantic import require_numpy

        np = require_numpy()
        data = json.loads(Path(weights_path).read_text())
        self._np = np
        self.embedder = embedder or LocalEmbedder()
        # one logit, or two ("harder than simple", then "hard") averaged as in Weights
        self._heads = [
            (
                float(data[prefix + "bias"]),
                np.asarray(data[prefix + "embedding"], dtype=np.float32),
                [(name, float(data[prefix + "features"].get(name, 0.0))) for name in FEATURE_NAMES],
            )
            for prefix in ("", "hard_")
            if prefix + "embedding" in data
        ]
        self.max_chars = int(data.get("max_chars", 2000))
        chosen = tuple(thresholds) if thresholds is not None else tuple(map(tuple, data["thresholds"]))
        _check_thresholds(chosen)
        self.thresholds: tuple[tuple[str, float], ...] = chosen  # type: ignore[assignment]

    def text(self, body: dict[str, Any]) -> str:
        """What is embedded: the head of the last user turn."""
        return _read_conversation(body.get("messages")).last_user[: self.max_chars]

    def decide(self, body: dict[str, Any], vector: Any) -> Decision:
        features = extract_features(body)
        probabilities = []
        for bias, embedding_weights, feature_weights in self._heads:
            z = bias + float(self._np.dot(embedding_weights, vector))
            z += sum(weight * getattr(features, name) for name, weight in feature_weights)
            probabilities.append(_sigmoid(z))
        score = sum(probabilities) / len(probabilities)
        tier = _tier_of(score, self.thresholds)
        return Decision(tier, score, _header_safe(f"embedding+features (score {score:.2f})"))

    async def classify(self, body: dict[str, Any]) -> Decision:
        try:
            vectors = await self.embedder.embed([self.text(body)])
            return self.decide(body, vectors[0])
        except Exception:
            return _unclassifiable(self.thresholds)

    def classify_sync(self, body: dict[str, Any]) -> Decision:
        try:
            return self.decide(body, self.embedder.embed_sync([self.text(body)])[0])
        except Exception:
            return _unclassifiable(self.thresholds)
