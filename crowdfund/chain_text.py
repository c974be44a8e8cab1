"""The words of a chain line: cleaning, numbers, quantities, prices, and the items they make.

Quantities come in every form group chats use: 红薯10斤, 10斤红薯, 梨 8 斤, 三斤半, 2.5斤, 半箱,
x2, *2份, ✖️2, 各一斤. A quantity needs a unit, a multiplication sign or a space after it to
be one, so 三黄鸡, 十三香 and 六个核桃 stay product names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from crowdfund.chain_model import ChainItem

# The quantity rules are shared with comment-to-grab in the live room, so they live on the ground floor;
# the chain modules go on importing them from here.
from infra.quantities import NUM as NUM
from infra.quantities import QTY_ONLY as _QTY_ONLY
from infra.quantities import TIMES as TIMES
from infra.quantities import UNIT as UNIT
from infra.quantities import UNITS as UNITS
from infra.quantities import number as number
from infra.quantities import quantity_of as _qty
from infra.quantities import read_quantity as read_quantity
from infra.quantities import whole as _whole

PRICE_MARK = "¤"  # stands where a price was, so the price goes to the product it was written against

# "3份午餐", "两斤红薯", "二斤半土豆": the quantity first, which needs a unit.
_QTY_FIRST = re.compile(rf"(?P<num>{NUM})(?P<unit>{UNIT})(?P<half>半)?(?P<product>[^\d\s]+)")
# "红薯10斤", "馒头x4", "五常大米10斤x2", "鸡蛋2" (a bare number only at the end): the product first.
_PRODUCT_FIRST = re.compile(
    rf"(?P<product>[^\d\s]+?)(?:{TIMES}(?P<xnum>\d+)(?P<xunit>{UNIT})?"
    rf"|(?P<num>{NUM})(?:(?P<unit>{UNIT})(?P<half>半)?|(?<=\d)(?={TIMES}|$))(?:{TIMES}(?P<mult>\d+))?)")
_PRICE = re.compile(rf"[¥￥]\s*(?P<a>\d+(?:\.\d+)?)(?:元)?(?:\s*[/每一]\s*{UNIT})?的?"
                    rf"|(?P<b>\d+(?:\.\d+)?)\s*(?:元|块钱|块(?=[/每一的]))(?:\s*[/每一]\s*{UNIT})?的?"
                    rf"|(?<![\d.])(?P<c>\d+(?:\.\d+)?)\s*/\s*(?:斤|公斤|kg|个|份|只|条|盒|袋|瓶|箱)(?![\d\w])")
_LEADING_FILLER = re.compile(r"^(?:我要|我想要|想要|要|订|买|拿|来)(?=\S)")
_TRAILING_FILLER = re.compile(r"(?:的要|要|的|来|共|一共)$")
# An edit word, a question or a greeting is never part of a product's name.
_NOT_PRODUCT = re.compile(r"^(?:改为|改成|换成|再来|再加|再要|不要|撤回|取消|追加|谢谢|请问|多少)|[吗么?]|^有(?!机)"
                          r"|周[一二三四五六日天]|今天|明天|后天|早上|上午|中午|下午|晚上|每天|每周|每月|每日|天天"
                          r"|^[各共周]$")
_WORD = r"[^\d\s、,，和及+;；/]+"
_EACH = re.compile(rf"(?<![^\s、,，和及+;；/])(?P<products>(?:{_WORD}[、,，和及\s]+)*{_WORD})"
                   rf"各\s*(?P<qty>{NUM}{UNIT}半?)")
# Cf covers the BOM a Windows editor puts before the first line, and zero-width joiners.
_DECORATION = {"So", "Sk", "Cs", "Co", "Cn", "Me", "Mn", "Cf"}


def clean(text: str) -> str:
    """Fold full-width forms and circled numbers to ASCII, drop emoji, collapse spaces."""
    text = unicodedata.normalize("NFKC", text).replace("✖", "x").replace("🔟", "10")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DECORATION and ch not in "\u200d\ufe0f")
    text = re.sub(r"(?<=\S)\[[\u4e00-\u9fff]{1,3}\]", "", text)  # WeChat's [强] [玫瑰] after the text
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def tidy(text: str) -> str:
    """Join what people space apart: "8 斤" -> "8斤", "x 6" -> "x6", "10 - 1203" -> "10-1203"."""
    text = re.sub(rf"(?<![\d.])({NUM})\s+({UNIT})(?![^\s,、+;/])", r"\1\2", text)
    text = re.sub(rf"({TIMES})\s+(\d)", r"\1\2", text)
    return re.sub(r"(\d)\s*([-—–~])\s*(\d)", r"\1\2\3", text)


def product_name(text: str) -> str | None:
    """A product as written, without fillers ("要", "的要") and punctuation; None if nothing is left."""
    text = text.replace(PRICE_MARK, "").strip(" .:-~()")
    text = _TRAILING_FILLER.sub("", _LEADING_FILLER.sub("", text)).strip(" .:-~()")
    if not text or len(text) > 20 or not re.search(r"\w", text) or re.search(r"\d", text):
        return None
    if _NOT_PRODUCT.search(text) or re.fullmatch(rf"{UNIT}[装的]?", text):
        return None  # "盒装" is how it is packed, not what it is
    return text


@dataclass
class Piece:
    """One space-free chunk of an item text, classified."""

    kind: str  # "q" quantity, "p" product, "items" product(s) with quantities
    text: str
    qty: tuple[float, str] | None = None
    items: list[ChainItem] = field(default_factory=list)
    times: bool = False  # a bare multiplication ("x2"), which may multiply the item before it


def _item(product: str, qty: tuple[float, str], priced: str, prices: list[int]) -> ChainItem | None:
    name = product_name(product)
    if name is None:
        return None
    price = prices.pop(0) if PRICE_MARK in priced and prices else 0
    return ChainItem(product=name, qty=_whole(qty[0]), unit=qty[1], price=price)


def _piece(chunk: str, prices: list[int]) -> Piece | None:
    m = _QTY_ONLY.fullmatch(chunk)
    if m:
        q = _qty(m)
        return Piece("q", chunk, qty=q, times=chunk[0] in "xX*×") if q else None
    m = _QTY_FIRST.fullmatch(chunk)
    if m and not _PRODUCT_FIRST.search(m["product"] + "|"):
        q = _qty(m)
        item = _item(m["product"], q, chunk, prices) if q else None
        return Piece("items", chunk, items=[item]) if item else None
    items, pos = [], 0
    for m in _PRODUCT_FIRST.finditer(chunk):
        if m.start() != pos:
            break
        q = _qty(m)
        item = _item(m["product"], q, m["product"], prices) if q else None
        if item is None:
            return None
        items.append(item)
        pos = m.end()
    if items and pos == len(chunk):
        return Piece("items", chunk, items=items)
    if re.search(r"\d", chunk):
        return None
    return Piece("p", chunk)


def _expand_each(text: str) -> str:
    """"苹果、梨各一斤" -> "苹果一斤 梨一斤"."""
    def expand(m: re.Match[str]) -> str:
        products = [p for p in re.split(r"[、,，和及\s]+", m["products"]) if p]
        return " ".join(p + m["qty"] for p in products)

    return _EACH.sub(expand, text)


def take_prices(text: str) -> tuple[str, list[int]]:
    """Prices out of the text, each replaced by a mark, in order, in cents."""
    prices: list[int] = []

    def mark(m: re.Match[str]) -> str:
        prices.append(round(float(m["a"] or m["b"] or m["c"]) * 100))
        return PRICE_MARK

    return _PRICE.sub(mark, text), prices


# What a known product without a quantity is: one of it ("1. 吴 香蕉", "2-1103" in a one-product chain).
KnownProduct = Callable[[str], bool]


def read_items(text: str, *, header_product: str = "", known: KnownProduct = lambda _: False,
               prices: list[int] | None = None, bare: bool = False) -> list[ChainItem] | None:
    """Every item in ``text``, or None when any part of it cannot be read with confidence.

    A quantity without a product is the header's product (or, with ``bare``, an item with no
    product, for an edit to fill in); a product without a quantity is one of it only when known.
    """
    prices = list(prices or [])
    text = _expand_each(re.sub(rf"({UNIT}|\d)[和及](?=\S)", r"\1 ", text.replace("?", " ")))
    chunks: list[str] = []
    for segment in re.split(r"[+,;、/，；]|\s和\s|\s及\s", text):
        chunks += segment.split()
    pieces = []
    for chunk in chunks:
        piece = _piece(chunk, prices)
        if piece is None:
            return None
        pieces.append(piece)
    items: list[ChainItem] = []
    i, made = 0, -1  # made: the index of the piece that completed the last item
    while i < len(pieces):
        piece, after = pieces[i], pieces[i + 1] if i + 1 < len(pieces) else None
        nxt2 = pieces[i + 2] if i + 2 < len(pieces) else None
        made_before, made = made, -1
        if piece.kind == "items":
            items += piece.items
            i, made = i + 1, i
        elif piece.kind == "p" and after is not None and after.kind == "q" and after.qty:
            item = _item(piece.text, after.qty, piece.text, prices)
            if item is None:
                return None
            items.append(item)
            i, made = i + 2, i + 1
        elif piece.kind == "p" and (name := product_name(piece.text)) and known(name):
            items.append(ChainItem(product=name, qty=1, unit=""))
            i += 1
        elif (piece.kind == "q" and piece.qty and piece.qty[1] and not piece.times and after is not None
              and after.kind == "p" and not (nxt2 is not None and nxt2.kind == "q" and not nxt2.times)
              and (not header_product or known(after.text))):
            item = _item(after.text, piece.qty, after.text, prices)  # "二斤半 土豆", "2kg 苹果"
            if item is None:
                return None
            items.append(item)
            i, made = i + 2, i + 1
        elif piece.kind == "q" and piece.qty and piece.times and made_before == i - 1 and items:
            last = items[-1]  # "红薯 10斤 x2"
            items[-1] = ChainItem(product=last.product, qty=_whole(last.qty * piece.qty[0]), unit=last.unit,
                                  price=last.price)
            i += 1
        elif piece.kind == "q" and piece.qty and (header_product or bare):
            items.append(ChainItem(product=header_product, qty=_whole(piece.qty[0]), unit=piece.qty[1],
                                   from_header=bool(header_product)))
            i += 1
        else:
            return None
    return items
