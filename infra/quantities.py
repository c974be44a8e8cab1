"""How people write a quantity in Chinese group chats and live comments: 两份, 三斤半, 2.5斤, x2, *2份.

The 接龙 parser (crowdfund) and comment-to-grab in the live room (stream) read quantities the same
way, so the rules live here on the ground floor, where both rooms may import them. A quantity
needs a unit, a multiplication sign or to stand alone to be one, so 三黄鸡 stays a product name.
"""

from __future__ import annotations

import re

import cn2an

MAX_QTY = 10_000
CN_DIGITS = "零〇一二两三四五六七八九十百千"
UNITS = ("公斤", "千克", "斤", "克", "kg", "g", "箱", "盒", "个", "份", "袋", "瓶", "只", "条", "把", "颗",
         "提", "包", "桶", "块", "串", "板", "捆", "罐", "听", "支", "根", "枚", "粒", "件", "盆", "兜",
         "筐", "打", "瓣", "棵", "碗", "杯", "套", "屉", "笼", "扎", "单", "排", "组", "盘", "张", "对")
NUM = rf"(?:\d+(?:\.\d+)?|[{CN_DIGITS}]+|半)"
UNIT = "(?:" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + ")"
TIMES = "[xX*×]"

# "10斤", "两份", "三斤半", "10斤x2", "2", "x2", "*2份": a quantity alone.
QTY_ONLY = re.compile(
    rf"(?:(?P<num>{NUM})(?P<unit>{UNIT})(?P<half>半)?|(?P<bare>\d+(?:\.\d+)?))(?:{TIMES}(?P<mult>\d+))?"
    rf"|{TIMES}(?P<xnum>\d+)(?P<xunit>{UNIT})?")


def number(text: str) -> float | None:
    """A number written in digits or Chinese numerals (两, 二十五, 半); None when it is none."""
    if text == "半":
        return 0.5
    if "两" in text[1:]:
        return None  # 二两 is two liang (a weight), which cn2an would read as 22
    try:
        return float(text) if text[0].isdigit() else float(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError):
        return None


def quantity_of(m: re.Match[str]) -> tuple[float, str] | None:
    """(quantity, unit) of a match with the groups the quantity patterns share
    (num or bare, unit, half, mult, xnum, xunit); None past MAX_QTY or when unreadable."""
    groups = m.groupdict()
    if groups.get("xnum"):
        qty: float | None = float(groups["xnum"])
        unit = groups.get("xunit") or ""
    else:
        qty = number(groups.get("num") or groups.get("bare") or "")
        unit = groups.get("unit") or ""
    if qty is None:
        return None
    if groups.get("half"):
        qty += 0.5
    if groups.get("mult"):
        qty *= int(groups["mult"])
    return (qty, unit) if 0 < qty <= MAX_QTY else None


def whole(qty: float) -> int | float:
    """2.0 -> 2, 2.5 stays 2.5."""
    return int(qty) if qty == int(qty) else qty


def read_quantity(text: str) -> tuple[int | float, str] | None:
    """A quantity alone ("两份", "三斤半", "x2", "2"), as (quantity, unit; "" when none was written)."""
    m = QTY_ONLY.fullmatch(text.replace(" ", ""))
    q = quantity_of(m) if m else None
    return (whole(q[0]), q[1]) if q else None
