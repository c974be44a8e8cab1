"""Read a 接龙 (numbered group-chat chain) into entries: who, what, how much, and a note.

    3. 王玉香 红薯10斤 3号楼
    4. 李爱荣 海鸭蛋两盒 + 小米5斤
    5、老马 红薯 十斤

Chinese and Arabic numerals (两, 十, 二十五, 1.5, 二斤半), units, several products per line,
full-width digits and punctuation and emoji are understood. A line that cannot be read with
confidence is reported in ``unparsed``, never guessed.
"""

from __future__ import annotations

import re
import unicodedata

import cn2an
import msgspec

MAX_QTY = 10_000
CN_DIGITS = "零〇一二两三四五六七八九十百千"
UNITS = ("公斤", "千克", "斤", "克", "kg", "g", "箱", "盒", "个", "份", "袋", "瓶", "只", "条", "把", "颗",
         "提", "包", "桶", "块", "串", "板", "捆", "罐", "听", "支", "根", "枚", "粒", "件", "盆", "兜",
         "筐", "打", "瓣", "棵")
_NUM = rf"(?:\d+(?:\.\d+)?|[{CN_DIGITS}]+|半)"
_UNIT = "(?:" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + ")"
_MULT = r"(?:\s*[x×*]\s*(?P<mult>\d+))?"
# "红薯10斤", "海鸭蛋两盒", "红薯 十斤", "西红柿 x2", "五常大米10斤x2": the product first.
_PRODUCT_FIRST = re.compile(
    rf"(?P<product>[^\d\s][^\s]*?)\s*[x×*]?\s*(?P<qty>{_NUM})\s*(?P<unit>{_UNIT})?(?P<half>半)?{_MULT}"
    r"(?=$|\s|[^\d.])(?(unit)|(?!\S))")
# "两斤红薯", "二斤半 土豆", "10斤红薯": the quantity first, which needs a unit to be unambiguous.
_QTY_FIRST = re.compile(rf"(?P<qty>{_NUM})\s*(?P<unit>{_UNIT})(?P<half>半)?\s*(?P<product>[^\d\s][^\d]*?){_MULT}")
_LEAD = re.compile(r"^\s*(\d+)\s*[.、)\]:,\-]?\s*(.*)$")
_NOTE = re.compile(r"^(?:\d+\s*(?:号楼|号|栋|幢|单元|室|楼|层|门)(?:\d+\s*(?:号|室|单元|楼|层))*\d*"
                   r"|\d+-\d+(?:-\d+)?|[A-Za-z]?\d*座)$")
_SEPARATORS = re.compile(r"[+,;、/]|\s和\s")
# Cf covers the BOM a Windows editor puts before the first line, and zero-width joiners.
_DECORATION = {"So", "Sk", "Cs", "Co", "Cn", "Me", "Mn", "Cf"}


class ChainItem(msgspec.Struct, kw_only=True):
    product: str
    qty: int | float
    unit: str


class ChainEntry(msgspec.Struct, kw_only=True):
    line: int
    name: str
    items: list[ChainItem]
    note: str

    def key(self) -> str:
        """A stable identity: the same chain line pasted again has the same key."""
        items = ";".join(f"{i.product}={i.qty}{i.unit}" for i in self.items)
        return f"{self.line}|{self.name}|{items}"


class ChainParse(msgspec.Struct, kw_only=True):
    entries: list[ChainEntry]
    unparsed: list[str]


def _clean(text: str) -> str:
    """Fold full-width forms to ASCII and drop emoji and other decoration."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DECORATION and ch not in "\u200d\ufe0f")
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def _number(text: str) -> float | None:
    if text == "半":
        return 0.5
    if "两" in text[1:]:
        return None  # 二两 is two liang (a weight), which cn2an would read as 22
    try:
        return float(text) if text[0].isdigit() else float(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError):
        return None


def _item(match: re.Match[str]) -> ChainItem | None:
    qty = _number(match["qty"])
    if qty is None:
        return None
    if match["half"]:
        qty += 0.5
    if match["mult"]:
        qty *= int(match["mult"])
    product = match["product"].strip(" .:-")
    if not product or qty <= 0 or qty > MAX_QTY:
        return None
    return ChainItem(product=product, qty=int(qty) if qty == int(qty) else qty, unit=match["unit"] or "")


def _segment_items(segment: str) -> list[ChainItem] | None:
    """Every item in one separator-free piece of text, or None if any part of it is unreadable."""
    text = segment.strip()
    if not text:
        return []
    whole = _QTY_FIRST.fullmatch(text)
    if whole:
        item = _item(whole)
        return [item] if item else None
    items, pos = [], 0
    for match in _PRODUCT_FIRST.finditer(text):
        if text[pos:match.start()].strip():
            return None  # something between items that is neither product nor quantity
        item = _item(match)
        if item is None:
            return None
        items.append(item)
        pos = match.end()
    return items if items and pos == len(text) else None


def parse_line(raw: str) -> ChainEntry | None:
    """One chain line, or None when it cannot be read with confidence."""
    text = _clean(raw)
    lead = _LEAD.match(text)
    if not lead or not lead[2]:
        return None
    parts = re.split(r"[\s:]+", lead[2], maxsplit=1)
    name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    if not name or _PRODUCT_FIRST.search(name) or len(name) > 20:
        return None
    notes: list[str] = []
    kept: list[str] = []
    for token in rest.split(" "):
        (notes if _NOTE.match(token) else kept).append(token)
    items: list[ChainItem] = []
    for segment in _SEPARATORS.split(" ".join(kept)):
        found = _segment_items(segment.strip())
        if found is None:
            return None
        items += found
    if not items:
        return None
    return ChainEntry(line=int(lead[1]), name=name, items=items, note=" ".join(n for n in notes if n))


def parse_chain(text: str) -> ChainParse:
    """Every line of a pasted chain: entries (each once) and the lines that could not be read."""
    entries: list[ChainEntry] = []
    seen: set[str] = set()
    unparsed: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        entry = parse_line(raw)
        if entry is None:
            unparsed.append(raw.strip())
        elif entry.key() not in seen:
            seen.add(entry.key())
            entries.append(entry)
    return ChainParse(entries=entries, unparsed=unparsed)


def chain_to_json(parse: ChainParse) -> bytes:
    return msgspec.json.encode(parse)
