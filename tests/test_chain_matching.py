"""Matching chain lines to residents (households, aliases, duplicates) and to catalog products."""

from __future__ import annotations

from crowdfund.aggregate import Tier
from crowdfund.catalog import ProductView
from crowdfund.chain_model import Pack
from crowdfund.matching import (
    find_product,
    find_resident,
    match_product,
    match_resident,
    packs_for,
    to_product_units,
)

RESIDENTS: list[dict[str, object]] = [
    {"id": "meng", "name": "孟秀英", "building": "17", "room": "1205"},
    {"id": "wang1", "name": "王芳", "building": "3", "room": "1205"},
    {"id": "wang2", "name": "王芳", "building": "12", "room": "602"},
    {"id": "zhou", "name": "周建国", "building": "6", "room": "702"},
    {"id": "mei", "name": "李梅", "building": "6", "room": "702"},
    {"id": "kai", "name": "张丽", "building": "8", "room": "1101", "aliases": ["开心果"]},
    {"id": "li", "name": "李爱荣", "building": None, "room": None},
    {"id": "a9", "name": "赵桂兰", "building": "9号楼", "room": "301"},
    {"id": "b9", "name": "钱淑珍", "building": "9", "room": "502"},
]


def product(pid: str, name: str, unit: str = "斤", *, aliases: tuple[str, ...] = (), case: int = 1,
            price: int = 500) -> ProductView:
    return ProductView(id=pid, supplier_id="s", name=name, aliases=list(aliases), unit=unit, case_size=case, moq=0,
                       capacity=1000, lead_time_hours=12, tiers=[Tier(min_qty=0, price_cents=price)])


CATALOG = [product("yumi", "玉米", "根"), product("yumimian", "玉米面"), product("jidan", "鸡蛋", "枚", case=30),
           product("pingguo", "苹果", aliases=("红富士",)), product("doufunao", "豆腐脑", "份"),
           product("li_cheap", "雪花梨", price=350), product("li_dear", "皇冠梨", price=500),
           product("mi", "五常大米", "袋"), product("hongshu", "红薯", case=10, aliases=("地瓜", "箱=20斤"))]


def _id(text: str, price_cents: int = 0) -> str | None:
    found = find_product(text, CATALOG, price_cents=price_cents).product
    return found.id if found else None


def test_a_household_finds_its_resident_with_or_without_a_name() -> None:
    """3-1205 is the resident registered there; a nickname beside it (阿梅, 老周) picks among two."""
    assert find_resident("", RESIDENTS, building="17", room="1205").resident_id == "meng"
    assert find_resident("孟奶奶", RESIDENTS, building="17", room="1205").resident_id == "meng"
    assert find_resident("王芳", RESIDENTS, building="3", room="1205").resident_id == "wang1"
    two = find_resident("", RESIDENTS, building="6", room="702")
    assert (two.status, sorted(two.candidates)) == ("ambiguous", ["mei", "zhou"])
    assert find_resident("周建国", RESIDENTS, building="6", room="702").resident_id == "zhou"
    assert find_resident("阿梅", RESIDENTS, building="6", room="702").resident_id == "mei"
    assert find_resident("老周", RESIDENTS, building="6", room="702").resident_id == "zhou"


def test_a_building_alone_lists_its_residents() -> None:
    """9号楼阿姨 names nobody in particular: the building's residents are the candidates."""
    found = find_resident("阿姨", RESIDENTS, building="9")
    assert (found.status, sorted(found.candidates)) == ("ambiguous", ["a9", "b9"])


def test_duplicate_names_are_asked_about_never_picked() -> None:
    """Two 王芳 in one community: an ambiguous answer listing both, unless the household tells them apart."""
    found = find_resident("王芳", RESIDENTS)
    assert (found.status, sorted(found.candidates)) == ("ambiguous", ["wang1", "wang2"])
    assert match_resident("王芳", RESIDENTS) is None
    assert find_resident("王芳", RESIDENTS, building="12", room="602").resident_id == "wang2"


def test_aliases_emoji_and_registered_households() -> None:
    """A registered nickname matches; emoji are ignored; a resident with no household registered matches
    by name whatever building the line says; a name registered elsewhere than the line's household is asked."""
    assert find_resident("🍀开心果🍀", RESIDENTS).resident_id == "kai"
    assert find_resident("李爱荣", RESIDENTS, building="3").resident_id == "li"
    moved = find_resident("孟秀英", RESIDENTS, building="5", room="101")
    assert (moved.status, moved.candidates) == ("ambiguous", ["meng"])
    conflict = find_resident("周建国", RESIDENTS, building="17", room="1205")
    assert (conflict.status, sorted(conflict.candidates)) == ("ambiguous", ["meng", "zhou"])


def test_near_names_and_titles_are_only_candidates() -> None:
    """A name that sounds the same, or 王奶奶 for residents named 王, is a candidate, never a match."""
    homophone = find_resident("李爱容", RESIDENTS)
    assert (homophone.status, homophone.candidates) == ("ambiguous", ["li"])
    title = find_resident("王奶奶", RESIDENTS)
    assert (title.status, sorted(title.candidates)) == ("ambiguous", ["wang1", "wang2"])
    assert find_resident("老马", RESIDENTS).status == "none"


def test_a_product_is_not_collapsed_into_a_shorter_name_inside_it() -> None:
    """玉米面 is 玉米面, never 玉米; 鸡蛋饼 and 苹果醋 match nothing in a catalog that lacks them."""
    assert (_id("玉米面"), _id("玉米")) == ("yumimian", "yumi")
    for text in ("鸡蛋饼", "苹果醋", "红薯粉"):
        found = find_product(text, CATALOG)
        assert found.status == "none", (text, found)


def test_a_kind_of_a_product_and_a_price_that_tells_two_apart() -> None:
    """现做豆腐脑 is 豆腐脑; 土鸡蛋 is only perhaps 鸡蛋; 大米 is the one rice sold; a price picks the pear."""
    assert find_product("现做豆腐脑", CATALOG).status == "matched"
    egg = find_product("土鸡蛋", CATALOG)
    assert (egg.status, [p.id for p in egg.candidates]) == ("uncertain", ["jidan"])
    assert _id("大米") == "mi"
    pears = find_product("梨", CATALOG)
    assert (pears.status, sorted(p.id for p in pears.candidates)) == ("uncertain", ["li_cheap", "li_dear"])
    assert _id("梨", price_cents=350) == "li_cheap"
    assert match_product("地瓜", CATALOG) is CATALOG[8]
    assert find_product("红富士苹果", CATALOG).status == "uncertain"


def test_quantities_in_the_products_unit() -> None:
    """Weights and dozens convert exactly; a declared unit or the header's packs convert; a case through
    the case size is only suggested; anything else is asked about."""
    jin, egg, rice, potato = CATALOG[1], CATALOG[2], CATALOG[7], CATALOG[8]
    assert to_product_units(2, "kg", jin).qty == 4
    assert to_product_units(500, "克", jin).qty == 1
    assert to_product_units(1, "打", egg).qty == 12
    assert to_product_units(1, "箱", potato).qty == 20  # declared by its alias 箱=20斤
    packs = [Pack(unit="板", qty=30, of="枚", product="土鸡蛋"), Pack(unit="箱", qty=6, of="板", product="土鸡蛋")]
    assert to_product_units(1.5, "板", egg, packs).qty == 45
    assert to_product_units(1, "箱", egg, packs).qty == 180
    case = to_product_units(0.5, "箱", egg)
    assert (case.qty, case.suggested_qty) == (None, 15) and "case" in case.problem
    assert to_product_units(2, "袋", jin).problem == "the catalog sells it by 斤, not 袋"
    assert "whole number" in to_product_units(2.5, "斤", rice, [Pack(unit="斤", qty=1, of="袋")]).problem
    assert to_product_units(0.5, "", jin).qty is None


def test_header_packs_apply_to_their_own_product() -> None:
    """The header's 箱=12盒 of milk is not the eggs' 箱=6板."""
    milk = product("niunai", "纯牛奶", "盒")
    packs = [Pack(unit="箱", qty=12, of="盒", product="纯牛奶"), Pack(unit="箱", qty=6, of="板", product="土鸡蛋")]
    catalog = [*CATALOG, milk]
    assert packs_for(milk, packs, catalog) == packs[:1]
    assert to_product_units(3, "箱", milk, packs_for(milk, packs, catalog)).qty == 36
