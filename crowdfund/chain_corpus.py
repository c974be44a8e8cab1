"""A corpus of pasted chains with the expected reading of every line, and how well the parser reads it.

``NAME.txt`` is a chain as pasted from a group chat; ``NAME.expect`` has one line for each
non-blank line of it, in order (blank lines and lines starting with ``//`` are skipped)::

    - anything                      not an order (header, menu, example, chatter): must not be read as one
    =                               an earlier copy of a line the chain repeats below: adds nothing
    +                               an item line under the name line above it
    ? #3 王芳 @6-702 | 香油 1 瓶      a question; after | what it asks for with a quantity
    add #6 孟奶奶 @17 | 苹果 3 斤, 梨 2.5 斤 ¥3.5 | pickup=康宁大药房 | note=不要香菜

An order starts with its kind when it is an edit (add, replace, withdraw), then ``#N`` (the chain
number, none for a chat line), the name and ``@building-room`` (each when the line gives one),
then ``|`` and the items (product, quantity, unit when written, price per unit when written).
Every field is compared, except the note: when given, the note must contain it (the note also
holds the household and estate as written).

A line is *right* when read exactly as expected, *refused* when reported unread (allowed: the
grid worker reads it), *wrong* otherwise (read differently, or dropped without a word).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crowdfund.chain import parse_chain
from crowdfund.chain_model import ChainEntry, ChainItem, ChainParse, ChainQuestion

KINDS = ("add", "replace", "withdraw")


@dataclass
class Expect:
    mark: str  # "order", "question", "-", "=", "+"
    kind: str = "order"
    line: int = 0
    name: str = ""
    building: str = ""
    room: str = ""
    items: list[tuple[str, float, str, int]] = field(default_factory=list)
    pickup: str = ""
    note: str | None = None


@dataclass
class LineScore:
    chain: str
    row: int
    text: str
    expected: str
    outcome: str  # right, refused, wrong
    got: str = ""
    order: bool = True  # an order, edit, question or item line (not a header, menu or chatter line)


class CorpusError(ValueError):
    """An .expect file that does not match its chain."""


def _item(text: str) -> tuple[str, float, str, int]:
    words = text.split()
    price = 0
    if words and words[-1].startswith("¥"):
        price = round(float(words.pop()[1:]) * 100)
    if len(words) == 1:
        return words[0], 0, "", price
    if len(words) not in (2, 3):
        raise CorpusError(f"an item is 'product qty [unit] [¥price]': {text!r}")
    return words[0], float(words[1]), words[2] if len(words) == 3 else "", price


def parse_expect(text: str) -> Expect:
    """One line of an .expect file."""
    text = text.strip()
    if text[0] in "-=+":
        return Expect(mark=text[0])
    parts = [p.strip() for p in text.split("|")]
    words = parts[0].split()
    expect = Expect(mark="order")
    if words and words[0] == "?":
        expect.mark, words = "question", words[1:]
    elif words and words[0] in KINDS:
        expect.kind, words = words[0], words[1:]
    for word in words:
        if word.startswith("#"):
            expect.line = int(word[1:])
        elif word.startswith("@"):
            expect.building, _, expect.room = word[1:].partition("-")
        elif not expect.name:
            expect.name = word
        else:
            raise CorpusError(f"two names in {text!r}")
    if len(parts) > 1 and parts[1]:
        expect.items = [_item(i) for i in parts[1].split(",")]
    for extra in parts[2:]:
        key, _, value = extra.partition("=")
        if key == "pickup":
            expect.pickup = value
        elif key == "note":
            expect.note = value
        else:
            raise CorpusError(f"unknown field {key!r} in {text!r}")
    return expect


def _items(items: list[ChainItem]) -> list[tuple[str, float, str, int]]:
    return [(i.product, float(i.qty), i.unit, i.price) for i in items]


def _show(found: ChainEntry | ChainQuestion) -> str:
    items = ", ".join(f"{i.product} {i.qty} {i.unit}".strip() + (f" ¥{i.price / 100:g}" if i.price else "")
                      for i in found.items)
    kind = "? " if isinstance(found, ChainQuestion) else ("" if found.kind == "order" else found.kind + " ")
    place = f" @{found.building}" + (f"-{found.room}" if found.room else "") if found.building or found.room else ""
    extra = ""
    if isinstance(found, ChainEntry):
        extra = (f" | pickup={found.pickup}" if found.pickup else "") + (f" | note={found.note}" if found.note else "")
    return f"{kind}#{found.line} {found.name}{place} | {items}{extra}"


def _matches(expect: Expect, found: ChainEntry | ChainQuestion) -> bool:
    same = (found.line, found.name, found.building, found.room, _items(found.items)) == (
        expect.line, expect.name, expect.building, expect.room, expect.items)
    if isinstance(found, ChainQuestion):
        return expect.mark == "question" and same
    return (expect.mark == "order" and same and found.kind == expect.kind and found.pickup == expect.pickup
            and (expect.note is None or expect.note in found.note))


def score_chain(name: str, text: str, expect_text: str) -> list[LineScore]:
    """Every non-blank line of one chain, scored against its expectation."""
    rows = [(n, raw) for n, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    expects = [line for line in expect_text.splitlines() if line.strip() and not line.startswith("//")]
    if len(rows) != len(expects):
        raise CorpusError(f"{name}: {len(rows)} chain lines but {len(expects)} expectations")
    parsed: ChainParse = parse_chain(text)
    at: dict[int, ChainEntry | ChainQuestion] = {e.row: e for e in parsed.entries}
    at.update({q.row: q for q in parsed.questions})
    spans = {row: e for e in parsed.entries for row in range(e.row + 1, e.end_row + 1)}
    unparsed = Counter(parsed.unparsed)
    scores = []
    for (row, raw), expect_line in zip(rows, expects, strict=True):
        expect = parse_expect(expect_line)
        found = at.get(row)
        score = LineScore(chain=name, row=row, text=raw.strip(), expected=expect_line.strip(), outcome="wrong",
                          got=_show(found) if found else "", order=expect.mark not in "-=")
        if expect.mark in "-=":
            score.outcome = "right" if found is None and row not in spans else "wrong"
            score.got = score.got or (f"part of line {spans[row].line}" if row in spans else "")
        elif expect.mark == "+":
            if row in spans:
                score.outcome = "right"
            elif found is None and unparsed[raw.strip()]:
                score.outcome = "refused"
        elif found is not None:
            score.outcome = "right" if _matches(expect, found) else "wrong"
        elif unparsed[raw.strip()]:
            score.outcome = "refused"
        else:
            score.got = f"part of line {spans[row].line}" if row in spans else "dropped without a word"
        scores.append(score)
    return scores


def score_corpus(directory: Path) -> list[LineScore]:
    """Every line of every chain in ``directory`` (NAME.txt with NAME.expect beside it)."""
    scores: list[LineScore] = []
    for chain in sorted(directory.glob("*.txt")):
        expect = chain.with_suffix(".expect")
        if not expect.exists():
            raise CorpusError(f"{chain.name} has no {expect.name}")
        scores += score_chain(chain.stem, chain.read_text(encoding="utf-8"), expect.read_text(encoding="utf-8"))
    return scores


def summary(scores: list[LineScore]) -> list[str]:
    """The shares read right, refused and wrong: order lines, other lines, all lines."""
    out = [f"{len({s.chain for s in scores})} chains, {len(scores)} lines"]
    for label, group in (("order lines", [s for s in scores if s.order]),
                         ("other lines", [s for s in scores if not s.order]), ("all lines", scores)):
        counts = Counter(s.outcome for s in group)
        shares = ", ".join(f"{o} {counts[o]} ({counts[o] / max(len(group), 1):.1%})"
                           for o in ("right", "refused", "wrong"))
        out.append(f"{label:12} {len(group):4}: {shares}")
    return out


def share_right(scores: list[LineScore]) -> float:
    """The share of order lines read right (the issue's figure: at least 95%, with none wrong)."""
    orders = [s for s in scores if s.order]
    return sum(s.outcome == "right" for s in orders) / max(len(orders), 1)


def describe(score: LineScore) -> str:
    return re.sub(r"\s+", " ", f"{score.chain}:{score.row} {score.outcome}: {score.text}  "
                                f"expected [{score.expected}]  got [{score.got}]")
