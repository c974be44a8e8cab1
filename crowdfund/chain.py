"""Read a 接龙 (numbered group-chat chain) into entries: who, what, how much, and a note.

    #接龙
    周六 现做豆腐脑 一份两碗 12元      the header: one product, so lines need not name it
    例 3-1205 两份                    an example: never an order
    1. 3-1205 两份                    a household and a quantity
    2. 王玉香 红薯10斤 3号楼           a name, items and a building
    3. 孟奶奶                         a name line whose items follow on the next lines
    苹果3斤
    @孟奶奶 苹果 再加2斤               an edit: add, replace (改为6盒) or withdraw (不要了)
    有香油吗？要一瓶                   a question: a demand signal, never an order

The orders are the last run of numbered lines that starts at 1: numbered lines before it are a
menu or an earlier copy of the same chain (a copy's lines that the last run repeats add nothing).
A line that cannot be read with confidence is reported in ``unparsed``, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from crowdfund.chain_header import read_header
from crowdfund.chain_model import ChainEntry, ChainHeader, ChainItem, ChainParse, ChainQuestion
from crowdfund.chain_read import Context, Reading, read_continuation, read_line
from crowdfund.chain_text import UNITS, clean
from crowdfund.chain_who import person_like

__all__ = ["ChainEntry", "ChainHeader", "ChainItem", "ChainParse", "ChainQuestion", "chain_to_json", "parse_chain",
           "parse_line"]

_NOT_AFTER_NUMBER = "".join({u[0] for u in UNITS}) + "一二三四五六七八九十两半号栋楼单元室幢座层-—–~."
_LEAD = re.compile(r"^(?:No\.?\s*)?\(?(?P<n>\d{1,3})\)?"
                   rf"(?:\s*\.(?!\d)\s*|\.(?=\d{{1,3}}[-—–~]\d{{3}}|\d{{1,3}}(?:栋|号楼|幢))|\s*[、):,#]\s*|\s+"
                   rf"|(?=[^\d\s{re.escape(_NOT_AFTER_NUMBER)}]))(?P<rest>\S.*)$")


def _lead(text: str) -> tuple[int, str] | None:
    """The chain number and the rest of a numbered line ("1.", "1、", "①", "(1)", "No.1")."""
    m = _LEAD.match(text)
    return (int(m["n"]), m["rest"]) if m else None


def _entry(reading: Reading, line: int, row: int) -> ChainEntry:
    who = reading.who
    return ChainEntry(line=line, name=who.name, items=reading.items, note=" ".join(n for n in reading.notes if n),
                      row=row, kind=reading.kind or "order", building=who.building, room=who.room,
                      pickup=reading.pickup)


def _run_start(leads: list[tuple[int, str] | None]) -> int:
    """Where the orders start: the last numbering that starts again at 1 and goes on with 2.

    A lone "1." repeated among the orders is a repeated line, not a new start."""
    numbers = [(i, lead[0]) for i, lead in enumerate(leads) if lead]
    if not numbers:
        return 0
    start = numbers[0][0]
    for k, (i, n) in enumerate(numbers[1:], 1):
        if n == 1 and (k + 1 == len(numbers) or numbers[k + 1][1] == 2):
            start = i
    return start


class _Reader:
    """Walks the rows of the orders part, keeping a name line open for the item lines under it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.entries: list[ChainEntry] = []
        self.unparsed: list[str] = []
        self.questions: list[ChainQuestion] = []
        self.seen: set[str] = set()
        self.open: tuple[ChainEntry, str] | None = None  # a name line without items, and its raw text

    def close(self) -> None:
        if self.open is None:
            return
        entry, raw = self.open
        self.open = None
        who_ok = entry.building or entry.room or person_like(entry.name)
        if not entry.items and self.ctx.product and who_ok:  # "9. 2-1103" in a one-product chain: one of it
            entry.items = [ChainItem(product=self.ctx.product, qty=1, unit="", from_header=True)]
        if entry.items:
            self.add(entry)
        else:
            self.unparsed.append(raw)

    def add(self, entry: ChainEntry) -> None:
        if entry.key() not in self.seen:
            self.seen.add(entry.key())
            self.entries.append(entry)

    def row(self, row: int, raw: str, text: str, lead: tuple[int, str] | None) -> None:
        if lead is None and self.open is not None:
            items = read_continuation(text, self.ctx)
            if items:
                self.open[0].items += items
                self.open[0].end_row = row
                return
        self.close()
        reading = read_line(lead[1] if lead else text, self.ctx)
        if reading is None or (lead is None and reading.kind == "order" and not reading.items):
            self.unparsed.append(raw)
        elif reading.kind is None:
            who = reading.who
            self.questions.append(ChainQuestion(row=row, text=raw, line=lead[0] if lead else 0, name=who.name,
                                                building=who.building, room=who.room, items=reading.items))
        elif reading.kind == "order" and not reading.items:
            self.open = (_entry(reading, lead[0] if lead else 0, row), raw)
        else:
            self.add(_entry(reading, lead[0] if lead else 0, row))


def _fill_edits(entries: list[ChainEntry]) -> None:
    """An edit that names no product ("再来3斤") means the one product that person ordered before."""
    for n, entry in enumerate(entries):
        if entry.kind in ("add", "replace") and any(not i.product for i in entry.items):
            same = {i.product for e in entries[:n] if (e.name, e.building, e.room) ==
                    (entry.name, entry.building, entry.room) for i in e.items if i.product}
            if len(same) == 1:
                product = same.pop()
                entry.items = [msgspec.structs.replace(i, product=product) if not i.product else i
                               for i in entry.items]


def parse_chain(text: str, products: Iterable[str] = ()) -> ChainParse:
    """Every line of a pasted chain: entries (each once), questions, and the lines not read.

    ``products`` are names the catalog sells (names and aliases): a word that is one of them is
    never taken for a person's name, and alone on a line it means one of it."""
    rows = [(n, raw.strip(), clean(raw)) for n, raw in enumerate(text.splitlines(), 1) if clean(raw)]
    leads = [_lead(cleaned) for _, _, cleaned in rows]
    start = _run_start(leads)
    header = read_header([cleaned for _, _, cleaned in rows[:start]])
    reader = _Reader(Context(product=header.product, products=frozenset([*header.products, *products])))
    last_run = {cleaned for _, _, cleaned in rows[start:]}
    for (_, raw, cleaned), lead in zip(rows[:start], leads[:start], strict=True):
        if not (lead and cleaned in last_run):  # an earlier copy's line, repeated below, adds nothing
            reader.unparsed.append(raw)
    for (n, raw, cleaned), lead in zip(rows[start:], leads[start:], strict=True):
        reader.row(n, raw, cleaned, lead)
    reader.close()
    _fill_edits(reader.entries)
    found = header.product or header.products or header.packs
    return ChainParse(entries=reader.entries, unparsed=reader.unparsed, questions=reader.questions,
                      header=header if found else None)


def parse_line(raw: str) -> ChainEntry | None:
    """One numbered chain line on its own (no header), or None when it cannot be read with confidence."""
    lead = _lead(clean(raw))
    reading = read_line(lead[1], Context()) if lead else None
    if lead is None or reading is None or reading.kind is None or not (reading.items or reading.kind == "withdraw"):
        return None
    return _entry(reading, lead[0], 1)


def chain_to_json(parse: ChainParse) -> bytes:
    return msgspec.json.encode(parse)
