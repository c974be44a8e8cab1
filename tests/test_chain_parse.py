"""The 接龙 parser on realistic chain lines: what it reads, and what it must refuse."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crowdfund.chain import ChainEntry, parse_chain, parse_line
from crowdfund.commands import chain

# (line, number, name, [(product, qty, unit)], note)
READ = [
    ("3. 王玉香 红薯10斤 3号楼", 3, "王玉香", [("红薯", 10, "斤")], "3号楼"),
    ("4. 李爱荣 海鸭蛋两盒 + 小米5斤", 4, "李爱荣", [("海鸭蛋", 2, "盒"), ("小米", 5, "斤")], ""),
    ("5、老马 红薯 十斤", 5, "老马", [("红薯", 10, "斤")], ""),
    ("６．刘奶奶 两斤红薯", 6, "刘奶奶", [("红薯", 2, "斤")], ""),
    ("7) 赵大爷🌸 红薯10斤", 7, "赵大爷", [("红薯", 10, "斤")], ""),
    ("8. 小王 西红柿 x2", 8, "小王", [("西红柿", 2, "")], ""),
    ("9. 孙 二斤半 土豆", 9, "孙", [("土豆", 2.5, "斤")], ""),
    ("10. 钱 五常大米10斤x2", 10, "钱", [("五常大米", 20, "斤")], ""),
    ("11 吴 鸡蛋2盒，土豆5斤 2单元", 11, "吴", [("鸡蛋", 2, "盒"), ("土豆", 5, "斤")], "2单元"),
    ("12. 郑 1.5斤 猪肉", 12, "郑", [("猪肉", 1.5, "斤")], ""),
    ("13. 陈 三黄鸡两只 5栋2单元301", 13, "陈", [("三黄鸡", 2, "只")], "5栋2单元301"),
    ("14. 褚：红薯 十五斤", 14, "褚", [("红薯", 15, "斤")], ""),
    ("15. 卫 苹果 一箱 和 香蕉 两把", 15, "卫", [("苹果", 1, "箱"), ("香蕉", 2, "把")], ""),
    ("16.蒋 红薯10斤小米5斤", 16, "蒋", [("红薯", 10, "斤"), ("小米", 5, "斤")], ""),
    ("17. 韩 红薯五斤 3-201", 17, "韩", [("红薯", 5, "斤")], "3-201"),
    ("18. 杨 红薯 10斤 小米 5斤", 18, "杨", [("红薯", 10, "斤"), ("小米", 5, "斤")], ""),
    ("19. 朱 鸡蛋 2", 19, "朱", [("鸡蛋", 2, "")], ""),
    ("20. 尤 红薯10000斤", 20, "尤", [("红薯", 10000, "斤")], ""),
    ("21、何 海鸭蛋 二十五盒", 21, "何", [("海鸭蛋", 25, "盒")], ""),
    ("22. 吕 大米一百斤", 22, "吕", [("大米", 100, "斤")], ""),
    ("２３．施　红薯　１０斤", 23, "施", [("红薯", 10, "斤")], ""),
    ("24. 张 红薯10斤；小米5斤", 24, "张", [("红薯", 10, "斤"), ("小米", 5, "斤")], ""),
    ("25. 孔 红薯10斤、土豆3斤、洋葱2斤", 25, "孔", [("红薯", 10, "斤"), ("土豆", 3, "斤"), ("洋葱", 2, "斤")], ""),
    ("26. 曹 牛奶2箱 8号楼", 26, "曹", [("牛奶", 2, "箱")], "8号楼"),
    ("27.严 半斤 花生", 27, "严", [("花生", 0.5, "斤")], ""),
    ("28. 华 豆腐3块", 28, "华", [("豆腐", 3, "块")], ""),
    ("29. 金 面条2袋+挂面1袋", 29, "金", [("面条", 2, "袋"), ("挂面", 1, "袋")], ""),
    ("30. 魏 酱油2瓶 醋1瓶", 30, "魏", [("酱油", 2, "瓶"), ("醋", 1, "瓶")], ""),
    ("31. 陶 鲫鱼2条", 31, "陶", [("鲫鱼", 2, "条")], ""),
    ("32. 姜 葱1把 姜2块", 32, "姜", [("葱", 1, "把"), ("姜", 2, "块")], ""),
    ("33. 戚 2kg 苹果", 33, "戚", [("苹果", 2, "kg")], ""),
    ("34. 谢 苹果3公斤", 34, "谢", [("苹果", 3, "公斤")], ""),
    ("35. 邹 葡萄2串", 35, "邹", [("葡萄", 2, "串")], ""),
    ("36. 喻 鸡蛋1板", 36, "喻", [("鸡蛋", 1, "板")], ""),
    ("37 柏 红薯 10 斤", 37, "柏", [("红薯", 10, "斤")], ""),
    ("38. 水 红薯10斤 🍠🍠", 38, "水", [("红薯", 10, "斤")], ""),
    ("39. 窦 ❤️ 海鸭蛋2盒", 39, "窦", [("海鸭蛋", 2, "盒")], ""),
    ("40. 章 红薯十斤 2号楼1单元", 40, "章", [("红薯", 10, "斤")], "2号楼1单元"),
    ("41. 云 红薯*3", 41, "云", [("红薯", 3, "")], ""),
    ("42. 苏 西瓜×1", 42, "苏", [("西瓜", 1, "")], ""),
    ("43. 潘 橙子5斤 B座", 43, "潘", [("橙子", 5, "斤")], "B座"),
    ("44. 葛 鸡蛋 两盒 / 牛奶 一箱", 44, "葛", [("鸡蛋", 2, "盒"), ("牛奶", 1, "箱")], ""),
    ("45. 奚 土鸡2只", 45, "奚", [("土鸡", 2, "只")], ""),
    ("46. 范 玉米十根", 46, "范", [("玉米", 10, "根")], ""),
    ("47. 彭 红薯10斤，", 47, "彭", [("红薯", 10, "斤")], ""),
    ("48.\t郎\t小米\t5斤", 48, "郎", [("小米", 5, "斤")], ""),
    ("49. 鲁 香油1瓶 + 芝麻酱2瓶", 49, "鲁", [("香油", 1, "瓶"), ("芝麻酱", 2, "瓶")], ""),
    ("50. 韦 白菜2棵", 50, "韦", [("白菜", 2, "棵")], ""),
    ("51. 昌 红薯 10斤 x2", 51, "昌", [("红薯", 20, "斤")], ""),
    ("52. 马阿姨 海鸭蛋 两盒 12号楼", 52, "马阿姨", [("海鸭蛋", 2, "盒")], "12号楼"),
    ("53. 苗 二十斤红薯", 53, "苗", [("红薯", 20, "斤")], ""),
    ("54. 凤 大蒜3瓣", 54, "凤", [("大蒜", 3, "瓣")], ""),
    ("55. 殷 十三香2袋", 55, "殷", [("十三香", 2, "袋")], ""),
    ("56. 罗 六个核桃1箱", 56, "罗", [("六个核桃", 1, "箱")], ""),
    ("\ufeff57. 毕 红薯10斤", 57, "毕", [("红薯", 10, "斤")], ""),
]

# Lines that must be reported, not guessed.
REFUSED = [
    "#接龙 周六助农直播",
    "例：1. 张三 红薯5斤",
    "14. 冯",
    "19. 沈 随便看看",
    "10. 周 红薯0斤",
    "25. 许 红薯10001斤",
    "23. 秦 小米10斤 土豆",
    "王阿姨 红薯10斤",
    "66. 红薯10斤",
    "57. 蔡 ？？？",
    "58. 田 10斤",
    "59. 胡 红薯 很多",
    "谢谢大家！",
    "60. 郝 猪肉二两",
    "61. 赵姐 不要香菜",
    "62. 郑 盒装2",
    "63. 请问几点到？",
    "64. 王 吴 红薯10斤",
]


@pytest.mark.parametrize(("raw", "number", "name", "items", "note"), READ, ids=[r[0] for r in READ])
def test_reads_a_chain_line(raw: str, number: int, name: str, items: list[tuple], note: str) -> None:
    """Each realistic line is read into its number, name, items and note."""
    entry = parse_line(raw)
    assert entry is not None, raw
    assert (entry.line, entry.name, entry.note) == (number, name, note)
    assert [(i.product, i.qty, i.unit) for i in entry.items] == items


@pytest.mark.parametrize("raw", REFUSED)
def test_refuses_what_it_cannot_read(raw: str) -> None:
    """Headers, chatter, lines with no quantity or an impossible one are refused, not guessed."""
    assert parse_line(raw) is None


def test_a_whole_pasted_chain_with_header_duplicates_and_blank_lines() -> None:
    """A chain as pasted: the header is reported, blank lines skipped, a repeated line read once."""
    text = "\n".join([
        "#接龙 周六红薯团购",
        "例 姓名 商品数量 楼号",
        "",
        "1. 王玉香 红薯10斤 3号楼",
        "2. 李爱荣 海鸭蛋两盒 + 小米5斤",
        "1. 王玉香 红薯10斤 3号楼",
        "3、老马 红薯 十斤",
        "   ",
        "4. 不知道",
    ])
    parsed = parse_chain(text)
    assert [(e.line, e.name) for e in parsed.entries] == [(1, "王玉香"), (2, "李爱荣"), (3, "老马")]
    assert parsed.unparsed == ["#接龙 周六红薯团购", "例 姓名 商品数量 楼号", "4. 不知道"]


def test_cli_prints_the_json_shape(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`linli chain parse` prints entries and unparsed lines, from a file or standard input."""
    runner = CliRunner()
    out = runner.invoke(chain, ["parse"], input="3. 王玉香 红薯10斤 3号楼\n乱七八糟\n")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data == {"entries": [{"line": 3, "name": "王玉香", "items": [{"product": "红薯", "qty": 10, "unit": "斤"}],
                                 "note": "3号楼", "row": 1, "building": "3"}], "unparsed": ["乱七八糟"]}
    path = tmp_path / "chain.txt"
    path.write_text("5、老马 红薯 十斤\n", encoding="utf-8")
    assert json.loads(runner.invoke(chain, ["parse", str(path)]).output)["entries"][0]["name"] == "老马"


def test_cli_refuses_a_file_that_is_not_utf8(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A chain saved in another encoding is a clear usage error, not a traceback."""
    path = tmp_path / "gbk.txt"
    path.write_bytes("3. 王玉香 红薯10斤".encode("gbk"))
    out = CliRunner().invoke(chain, ["parse", str(path)])
    assert out.exit_code == 2 and "UTF-8" in out.output


def _read(entry: ChainEntry) -> tuple[object, ...]:
    return (entry.kind, entry.line, entry.name, entry.building, entry.room,
            [(i.product, i.qty, i.unit) for i in entry.items])


def test_a_one_product_chain_reads_households_and_bare_quantities() -> None:
    """The header names the product; lines give a household or a name and how many, or nothing (one)."""
    parsed = parse_chain("\n".join([
        "#接龙", "周六 现做豆腐脑 一份两碗 12元", "例 3-1205 两份", "",
        "1. 3-1205 两份", "2. 阿梅 6-702 1份", "3. 6-702老周 2份", "4. 9号楼阿姨 一份", "5. 3号1205 x2",
        "6. 2-1103", "7. 14栋302 王奶奶 *2份", "8. 刘姐 3份 谢谢团长", "9. 不知道",
    ]))
    assert parsed.header is not None and parsed.header.product == "豆腐脑" and parsed.header.price == 1200
    assert [_read(e) for e in parsed.entries] == [
        ("order", 1, "", "3", "1205", [("豆腐脑", 2, "份")]),
        ("order", 2, "阿梅", "6", "702", [("豆腐脑", 1, "份")]),
        ("order", 3, "老周", "6", "702", [("豆腐脑", 2, "份")]),
        ("order", 4, "阿姨", "9", "", [("豆腐脑", 1, "份")]),
        ("order", 5, "", "3", "1205", [("豆腐脑", 2, "")]),
        ("order", 6, "", "2", "1103", [("豆腐脑", 1, "")]),
        ("order", 7, "王奶奶", "14", "302", [("豆腐脑", 2, "份")]),
        ("order", 8, "刘姐", "", "", [("豆腐脑", 3, "份")]),
    ]
    assert all(i.from_header for e in parsed.entries for i in e.items)
    assert parsed.unparsed == ["#接龙", "周六 现做豆腐脑 一份两碗 12元", "例 3-1205 两份", "9. 不知道"]


def test_menu_and_example_lines_are_never_orders() -> None:
    """A numbered menu in the header, and the example, are not orders: the orders restart at 1."""
    parsed = parse_chain("\n".join([
        "【邻里食堂】明天（周三）午餐接龙", "今日菜单：", "   1. 红烧肉", "   2. 番茄炒蛋", "米饭管够，15元一份",
        "例：1. 3-502 张阿姨 午餐1份", "1. 3-502 张阿姨 午餐1份", "2. 5-1201 李叔 2份", "3. 8-602 3份午餐",
    ]))
    assert [(e.line, e.name, e.items[0].product, e.items[0].qty) for e in parsed.entries] == [
        (1, "张阿姨", "午餐", 1), (2, "李叔", "午餐", 2), (3, "", "午餐", 3)]
    assert "   1. 红烧肉".strip() in parsed.unparsed and "例：1. 3-502 张阿姨 午餐1份" in parsed.unparsed


def test_names_come_out_clean_of_buildings_estates_and_emoji() -> None:
    """Buildings before or glued to a name, estates and emoji go to the note or away; the name is clean."""
    lines = {"1. 17栋 孟奶奶 苹果5斤": ("孟奶奶", "17", "17栋"), "2. 6号楼刘阿姨 橙子3斤": ("刘阿姨", "6", "6号楼"),
             "3. 锦园-王大爷 葡萄2斤": ("王大爷", "", "锦园"), "4. 东苑 老杨 苹果10斤": ("老杨", "", "东苑"),
             "5. 🍀开心果🍀 梨2.5斤": ("开心果", "", ""), "6. 李桂兰💐 香蕉两斤": ("李桂兰", "", ""),
             "7. (9号楼)何 五花肉3斤": ("何", "9", "9号楼")}
    for raw, (name, building, note) in lines.items():
        entry = parse_line(raw)
        assert entry is not None, raw
        assert (entry.name, entry.building, entry.note) == (name, building, note), raw


def test_quantity_forms_and_several_items_without_a_separator() -> None:
    """三斤半, 2.5斤, 梨 8 斤, 各一斤, 3份午餐, ✖️2, glued items and a price naming the product."""
    cases = {
        "1. 王芳 苹果 三斤半": [("苹果", 3.5, "斤", 0)],
        "2. 冯 梨 8 斤": [("梨", 8, "斤", 0)],
        "3. 赵 苹果、梨各一斤": [("苹果", 1, "斤", 0), ("梨", 1, "斤", 0)],
        "4. 钱 4个包子 2杯豆浆": [("包子", 4, "个", 0), ("豆浆", 2, "杯", 0)],
        "5. 陈 豆浆✖️2 油条✖️2": [("豆浆", 2, "", 0), ("油条", 2, "", 0)],
        "6. 张 土豆5斤西红柿3斤黄瓜2斤": [("土豆", 5, "斤", 0), ("西红柿", 3, "斤", 0), ("黄瓜", 2, "斤", 0)],
        "7. 张 梨3.5元一斤的要六斤": [("梨", 6, "斤", 350)],
        "8. 钱 基围虾1斤和扇贝2斤": [("基围虾", 1, "斤", 0), ("扇贝", 2, "斤", 0)],
        "9. 吴 要玉米面五斤": [("玉米面", 5, "斤", 0)],
        "10. 蒋 鸡蛋一板半": [("鸡蛋", 1.5, "板", 0)],
        "11. 钱 草鱼5斤切块": [("草鱼", 5, "斤", 0)],
        "12. 王 加多宝2箱": [("加多宝", 2, "箱", 0)],
        "13. 李 有机大米5斤": [("有机大米", 5, "斤", 0)],
    }
    for raw, items in cases.items():
        entry = parse_line(raw)
        assert entry is not None, raw
        assert [(i.product, i.qty, i.unit, i.price) for i in entry.items] == items, raw


def test_edits_are_entries_with_their_kind() -> None:
    """再来 / 再加 add, 改为 replaces, 不要了 / 撤回 / 取消 withdraw; "再来3斤" means the chain's product."""
    parsed = parse_chain("\n".join([
        "周六 苹果接龙 5元一斤", "1. 孟奶奶 苹果5斤", "2. 刘姐 苹果3斤", "3. 老周 苹果10斤",
        "4. 赵大爷 苹果10斤 改为8斤",
        "5. 孟奶奶 再来3斤", "@孟奶奶 苹果 再加2斤", "刘姐：改为6斤", "王芳 不要了", "老周 撤回", "8-602 苹果改成4斤",
        "李桂兰撤回了一条消息", "老王 苹果5斤 不要了", "6. 赵姐 1份 不要香菜",
    ]))
    edits = [_read(e) for e in parsed.entries if e.kind != "order"]
    assert edits == [
        ("replace", 4, "赵大爷", "", "", [("苹果", 8, "斤")]),
        ("add", 5, "孟奶奶", "", "", [("苹果", 3, "斤")]),
        ("add", 0, "孟奶奶", "", "", [("苹果", 2, "斤")]),
        ("replace", 0, "刘姐", "", "", [("苹果", 6, "斤")]),
        ("withdraw", 0, "王芳", "", "", []),
        ("withdraw", 0, "老周", "", "", []),
        ("replace", 0, "", "8", "602", [("苹果", 4, "斤")]),
        ("withdraw", 0, "老王", "", "", [("苹果", 0, "")]),
    ]
    assert "李桂兰撤回了一条消息" in parsed.unparsed  # a recalled message is not a withdrawal
    remark = parsed.entries[-1]
    assert (remark.kind, remark.items[0].qty) == ("order", 1) and "不要香菜" in remark.note


def test_an_edit_without_a_product_takes_the_one_that_person_ordered() -> None:
    """In a chain of several products, "再来2斤" means the one product that person ordered before."""
    parsed = parse_chain("苹果 5元/斤 梨 3元/斤\n1. 孟奶奶 梨5斤\n2. 刘姐 苹果3斤 梨1斤\n"
                         "孟奶奶 再来2斤\n刘姐 再来1斤\n")
    assert [_read(e) for e in parsed.entries if e.kind == "add"] == [
        ("add", 0, "孟奶奶", "", "", [("梨", 2, "斤")]), ("add", 0, "刘姐", "", "", [("", 1, "斤")])]


def test_questions_are_not_orders_but_say_what_they_ask_for() -> None:
    """Questions are listed apart from the entries, with what they ask for when they give a quantity."""
    parsed = parse_chain("\n".join([
        "周五 山东大樱桃 一盒2斤 58元", "1. 孟奶奶 2盒", "有香油吗？要一瓶", "请问几点到货？", "5. 王芳 有小盒的吗？",
        "@团长 榴莲有没有？要一个", "6. 李阿姨 1盒 能送到家吗", "多少钱一盒？",
    ]))
    assert [(q.line, q.name, [(i.product, i.qty, i.unit) for i in q.items]) for q in parsed.questions] == [
        (0, "", [("香油", 1, "瓶")]), (0, "", []), (5, "王芳", []), (0, "", [("榴莲", 1, "个")]), (0, "", [])]
    assert [(e.name, e.items[0].qty) for e in parsed.entries] == [("孟奶奶", 2), ("李阿姨", 1)]


def test_a_pickup_point_named_on_a_line() -> None:
    """自提：X, X自提, 放X (a place), or a place word alone set the line's pickup; 放门口 does not."""
    cases = {"1. 王芳 红薯2斤 自提：康宁大药房": "康宁大药房", "2. 李 红薯1斤 物业前台自提": "物业前台",
             "3. 刘 红薯1斤 放3号楼快递柜": "3号楼快递柜", "4. 郑 红薯1斤 快递柜": "快递柜",
             "5. 赵 红薯1斤 请放门口": ""}
    for raw, pickup in cases.items():
        entry = parse_line(raw)
        assert entry is not None and entry.pickup == pickup, raw


def test_a_name_line_followed_by_item_lines_is_one_entry() -> None:
    """Item lines under a name line belong to it; the entry spans those rows."""
    parsed = parse_chain("品种：苹果 香蕉\n1. 孟奶奶\n苹果3斤\n香蕉1把\n2. 刘姐 苹果5斤\n3. 吴 香蕉\n")
    first = parsed.entries[0]
    assert (first.name, first.row, first.end_row) == ("孟奶奶", 2, 4)
    assert [(i.product, i.qty) for i in first.items] == [("苹果", 3), ("香蕉", 1)]
    assert [(i.product, i.qty, i.unit) for i in parsed.entries[2].items] == [("香蕉", 1, "")]


def test_an_earlier_copy_of_the_chain_adds_nothing() -> None:
    """Chains copied again as they grew are read once, from the last copy; nothing is doubled."""
    copy = ["#接龙", "周日 手工水饺 一斤一袋 20元", "1. 孟奶奶 2袋", "2. 刘姐 1袋"]
    parsed = parse_chain("\n".join([*copy, *copy, "3. 王芳 1袋"]))
    assert [(e.line, e.name, e.items[0].qty) for e in parsed.entries] == [
        (1, "孟奶奶", 2), (2, "刘姐", 1), (3, "王芳", 1)]
    assert parsed.unparsed == ["#接龙", "周日 手工水饺 一斤一袋 20元", "#接龙", "周日 手工水饺 一斤一袋 20元"]


def test_ambiguous_lines_are_refused_not_guessed() -> None:
    """When a word could be a name or a product, or a product line names no product it knows, ask."""
    text = "#接龙\n周六 现做豆腐脑 一份两碗 12元\n1. 3-1205 豆浆 2杯\n2. 红烧肉\n3. 苹果 5斤\n"
    parsed = parse_chain(text, products=["豆腐脑", "苹果"])  # what the catalog sells
    assert parsed.entries == []
    assert parsed.unparsed[-3:] == ["1. 3-1205 豆浆 2杯", "2. 红烧肉", "3. 苹果 5斤"]
    # Without the catalog "苹果" could be a nickname (开心果, 向日葵 are): read as a name, which then
    # matches no resident and is listed by the import, never imported.
    assert [e.name for e in parse_chain(text).entries] == ["苹果"]


def test_content_key_ignores_the_chain_number() -> None:
    """The same line renumbered has the same content key (what a re-paste after renumbering needs)."""
    a, b = parse_line("3. 王玉香 红薯10斤 3号楼"), parse_line("7. 王玉香 红薯10斤 3号楼")
    assert a is not None and b is not None
    assert a.key() != b.key() and a.content_key() == b.content_key()


def test_time_frequency_and_shipping_words_are_never_products() -> None:
    """"周一2份", "每天1份" and "周一 周四 各1份" are refused, not read as products 周一, 每天, 周; a shipping
    word beside the header's product ("顺丰冷链") is not the product."""
    parsed = parse_chain("#接龙\n周一到周五 工作日午餐 18元/份\n1. 3-1205 王 周一2份\n2. 老周 每天1份\n"
                         "3. 孟奶奶 周一 周四 各1份\n4. 刘姐 2份\n")
    assert [(e.line, e.items[0].product, e.items[0].qty) for e in parsed.entries] == [(4, "工作日午餐", 2)]
    header = parse_chain("#接龙\n妃子笑荔枝 顺丰冷链 5斤/箱 68元\n1. 孟奶奶 2箱\n").header
    assert header is not None and header.product == "妃子笑荔枝"
