"""Match the names, households and product texts of a pasted chain to residents and catalog products.

Residents: by household (building and room) first, then by registered name or alias. Two
residents who answer to the same line (two 王芳) are an ``ambiguous`` answer with both as
candidates, never a silent pick; a near name is only ever a candidate.

Products: by name or alias. A name that ends with a catalog name is a kind of it (现做豆腐脑 is
豆腐脑; 土鸡蛋 only perhaps 鸡蛋); a name that merely starts with one is another product
(玉米面 is not 玉米, 鸡蛋饼 not 鸡蛋, 苹果醋 not 苹果). What is not certain is ``uncertain``
with candidates, for the grid worker to choose.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process

from crowdfund.catalog import ProductView
from crowdfund.chain_model import Pack

NAME_MIN_SCORE = 85
PRODUCT_MIN_SCORE = 80
MAX_CANDIDATES = 10
# Words before a product's name that do not make it another product.
DESCRIPTORS = ("现做", "现包", "现磨", "现蒸", "现炸", "现摘", "现杀", "现烤", "新鲜", "当季", "应季", "农家", "自家",
               "手工", "纯手工", "正宗", "精品", "特价", "优质", "今日")
_TITLES = ("奶奶", "爷爷", "大爷", "阿姨", "老师", "大妈", "大姐", "大哥", "婆婆", "妈妈", "师傅", "姐", "哥", "姨",
           "叔", "伯", "婶", "嫂")
GRAMS = {"斤": 500, "公斤": 1000, "千克": 1000, "kg": 1000, "克": 1, "g": 1}
DOZEN_OF = ("个", "枚", "只")
CASES = ("箱", "件")

Resident = Mapping[str, object]


class ResidentMatch(msgspec.Struct, kw_only=True):
    status: Literal["matched", "ambiguous", "none"]
    resident_id: str | None = None
    candidates: list[str] = []  # resident ids, when ambiguous


class ProductMatch(msgspec.Struct, kw_only=True):
    status: Literal["matched", "uncertain", "none"]
    product: ProductView | None = None
    candidates: list[ProductView] = []  # when uncertain


def _fold(text: str) -> str:
    """Full-width folded, emoji and spaces dropped, lower case: "🍀开心果🍀" -> "开心果"."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN").lower()


def _digits(text: object) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit()).lstrip("0")


def _names(resident: Resident) -> frozenset[str]:
    aliases = resident.get("aliases") or []
    return _folded_names(str(resident.get("name") or ""),
                         aliases if isinstance(aliases, str) else json.dumps(list(aliases)))  # type: ignore[call-overload]


@functools.lru_cache(maxsize=4096)
def _folded_names(name: str, aliases: str) -> frozenset[str]:
    """A name and its aliases folded; aliases as stored (a JSON list) or written by hand ("开心果、阿梅").
    Cached: a chain of 200 lines asks about every resident for every line."""
    listed = json.loads(aliases) if aliases.startswith("[") else [a for a in re.split(r"[,，、\s]+", aliases) if a]
    return frozenset(_fold(str(n)) for n in [name, *listed] if n)


def _ids(residents: Sequence[Resident]) -> list[str]:
    return [str(r["id"]) for r in residents][:MAX_CANDIDATES]


def _answer(found: Sequence[Resident]) -> ResidentMatch:
    if len(found) == 1:
        return ResidentMatch(status="matched", resident_id=str(found[0]["id"]))
    return ResidentMatch(status="ambiguous", candidates=_ids(found)) if found else ResidentMatch(status="none")


def _could_be(name: str, resident: Resident) -> bool:
    """Whether a name on a line could be what neighbours call the resident: 阿梅 for 李梅, 老周 for
    周建国, 王奶奶 for 王秀英, or only a title (阿姨)."""
    core = name.lstrip("老小阿")
    for title in _TITLES:
        core = core.removesuffix(title)
    return not core or any(set(core) & set(n) for n in _names(resident))


def find_resident(name: str, residents: Sequence[Resident], *, building: str = "", room: str = "") -> ResidentMatch:
    """The resident a chain line means: matched, ambiguous (with candidates) or none."""
    folded = _fold(name)
    called = [r for r in residents if folded and folded in _names(r)]
    if building or room:
        here = [r for r in residents if (not building or _digits(r.get("building")) == _digits(building))
                and (not room or _digits(r.get("room")) == _digits(room))]
        named_here = [r for r in here if r in called]
        if named_here:
            return _answer(named_here)
        if called:
            unplaced = [r for r in called if not _digits(r.get("building")) and not _digits(r.get("room"))]
            if len(called) == 1 and unplaced:
                return _answer(unplaced)  # registered without a household: the line cannot contradict it
            # The name is registered at another household than the line's: ask, with both.
            return ResidentMatch(status="ambiguous", candidates=_ids([*(here if room else []), *called]))
        if room and len(here) == 1:
            return _answer(here)  # "3-1205 两份", "孟奶奶 17-1205": the household is the resident
        could = [r for r in here if _could_be(folded, r)] if folded else []
        if len(could) == 1 and len(could) < len(here) and room:
            return _answer(could)  # "阿梅 6-702" where 李梅 and 周建国 live
        if here:
            return ResidentMatch(status="ambiguous", candidates=_ids(here))  # "9号楼阿姨": who of them?
        return ResidentMatch(status="none")
    if called:
        return _answer(called) if len(called) == 1 else ResidentMatch(status="ambiguous", candidates=_ids(called))
    if not folded:
        return ResidentMatch(status="none")
    choices = {str(r["id"]): n for r in residents for n in _names(r)}
    near = [hit[2] for hit in process.extract(folded, choices, scorer=fuzz.ratio, score_cutoff=NAME_MIN_SCORE,
                                              limit=MAX_CANDIDATES)]
    sound = lazy_pinyin(folded)
    near += [str(r["id"]) for r in residents if any(lazy_pinyin(n) == sound for n in _names(r))]
    if folded.endswith(_TITLES) and folded[0] not in "老小阿":  # "王奶奶": residents named 王
        near += [str(r["id"]) for r in residents if any(n.startswith(folded[0]) for n in _names(r))]
    near = list(dict.fromkeys(near))[:MAX_CANDIDATES]
    return ResidentMatch(status="ambiguous", candidates=near) if near else ResidentMatch(status="none")


def match_resident(name: str, residents: Sequence[Resident]) -> str | None:
    """The id of the one resident called ``name``; None when nobody or several are."""
    return find_resident(name, residents).resident_id


def _labels(product: ProductView) -> list[str]:
    """A product's name and aliases (an alias with "=" declares a unit, "箱=12", and is no name)."""
    return [f for f in (_fold(label) for label in [product.name, *product.aliases] if "=" not in label) if f]


def _unique(products: list[ProductView]) -> list[ProductView]:
    return list({p.id: p for p in products}.values())


def _priced(products: list[ProductView], price_cents: int) -> list[ProductView]:
    """Those sold at the price the line names, when it names one and it tells them apart."""
    if not price_cents:
        return products
    same = [p for p in products if any(t.price_cents == price_cents for t in p.tiers)]
    return same or products


def _decide(found: list[ProductView], price_cents: int, *, certain: bool) -> ProductMatch:
    found = _unique(found)
    priced = _priced(found, price_cents)
    certain = certain or len(priced) < len(found)  # "梨3.5元一斤": the price names the pear
    found = priced
    if len(found) == 1 and certain:
        return ProductMatch(status="matched", product=found[0])
    return ProductMatch(status="uncertain", candidates=found[:MAX_CANDIDATES])


def find_product(text: str, products: Sequence[ProductView], *, price_cents: int = 0) -> ProductMatch:
    """The catalog product a chain's product text means: matched, uncertain (with candidates) or none."""
    folded = _fold(text)
    if not folded:
        return ProductMatch(status="none")
    labelled = [(label, p) for p in products for label in _labels(p)]
    exact = [p for label, p in labelled if label == folded]
    if exact:
        return _decide(exact, price_cents, certain=True)
    # 现做豆腐脑 is 豆腐脑; 土鸡蛋 is perhaps 鸡蛋: the longest catalog name the text ends with.
    ends = [(label, p) for label, p in labelled if folded.endswith(label)]
    if ends:
        longest = max(len(label) for label, _ in ends)
        found = [p for label, p in ends if len(label) == longest]
        modifier = folded[:-longest]
        return _decide(found, price_cents, certain=modifier in DESCRIPTORS)
    # 大米 when the catalog sells 五常大米: a kind of what the line names, certain when only one.
    kinds = [p for label, p in labelled if label.endswith(folded)]
    if kinds:
        return _decide(kinds, price_cents, certain=len(folded) >= 2)
    # Close in writing or in sound: only ever candidates, and never one that starts or ends the
    # other (玉米 for 玉米面), which is another product.
    others = {label: p for label, p in labelled if not (label.startswith(folded) or folded.startswith(label))}
    near = [others[hit[0]] for hit in process.extract(folded, list(others), scorer=fuzz.ratio,
                                                       score_cutoff=PRODUCT_MIN_SCORE, limit=MAX_CANDIDATES)]
    sound = lazy_pinyin(folded)
    near += [p for label, p in others.items() if lazy_pinyin(label) == sound]
    return _decide(near, price_cents, certain=False) if near else ProductMatch(status="none")


def match_product(text: str, products: Sequence[ProductView]) -> ProductView | None:
    """The catalog product a chain's product text certainly means, else None."""
    return find_product(text, products).product


def declared_packs(product: ProductView) -> list[Pack]:
    """Units a product declares among its aliases: "箱=12" or "板=30枚" (of the product's own unit)."""
    packs = []
    for alias in product.aliases:
        m = re.fullmatch(r"\s*1?\s*(?P<unit>[^\s=\d]+)\s*=\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<of>[^\s\d]*)\s*", alias)
        if m:
            n = float(m["n"])
            packs.append(Pack(unit=m["unit"], qty=int(n) if n == int(n) else n, of=m["of"] or product.unit))
    return packs


def _convert(qty: float, unit: str, target: str, packs: Sequence[Pack], depth: int = 0) -> float | None:
    """``qty`` ``unit`` in ``target`` units, or None when unknown or when two packs disagree."""
    if unit in ("", target):
        return qty
    if unit in GRAMS and target in GRAMS:
        return qty * GRAMS[unit] / GRAMS[target]
    if unit == "打" and target in DOZEN_OF:
        return qty * 12
    found = {c for pack in packs if pack.unit == unit and depth < 3
             if (c := _convert(qty * pack.qty, pack.of, target, packs, depth + 1)) is not None}
    return found.pop() if len(found) == 1 else None


class Quantity(msgspec.Struct, kw_only=True):
    qty: int | None = None  # in the product's unit, when certain
    problem: str = ""
    suggested_qty: int | None = None  # a reading to confirm ("一箱" through the case size)


def to_product_units(qty: float, unit: str, product: ProductView, packs: Sequence[Pack] = (),
                     max_qty: int = 10_000) -> Quantity:
    """A chain item's quantity in the product's unit: weights and dozens exactly, packs the header or
    the product declares; a case (箱) through the product's case size only as a suggestion."""
    converted = _convert(qty, unit, product.unit, [*packs, *declared_packs(product)])
    if converted is None:
        problem = f"the catalog sells it by {product.unit}, not {unit}"
        case = qty * product.case_size
        if unit in CASES and product.case_size > 1 and case == int(case):
            return Quantity(problem=f"{problem}; a case is {product.case_size} {product.unit}",
                            suggested_qty=int(case))
        return Quantity(problem=problem)
    converted = round(converted, 6)
    if converted != int(converted) or not 1 <= converted <= max_qty:
        return Quantity(problem=f"{converted:g} is not a whole number of {product.unit}")
    return Quantity(qty=int(converted))


def packs_for(product: ProductView, packs: Sequence[Pack], products: Sequence[ProductView]) -> list[Pack]:
    """The header's packs that are about ``product`` (or about no product in particular)."""
    mine = []
    for pack in packs:
        found = find_product(pack.product, products) if pack.product else None
        if found is None or product.id in {p.id for p in [*([found.product] if found.product else []),
                                                           *found.candidates]}:
            mine.append(pack)
    return mine
