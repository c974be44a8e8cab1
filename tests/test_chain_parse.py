"""The 接龙 parser on realistic chain lines: what it reads, and what it must refuse."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from crowdfund.chain import parse_chain, parse_line
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
                                 "note": "3号楼"}], "unparsed": ["乱七八糟"]}
    path = tmp_path / "chain.txt"
    path.write_text("5、老马 红薯 十斤\n", encoding="utf-8")
    assert json.loads(runner.invoke(chain, ["parse", str(path)]).output)["entries"][0]["name"] == "老马"


def test_cli_refuses_a_file_that_is_not_utf8(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A chain saved in another encoding is a clear usage error, not a traceback."""
    path = tmp_path / "gbk.txt"
    path.write_bytes("3. 王玉香 红薯10斤".encode("gbk"))
    out = CliRunner().invoke(chain, ["parse", str(path)])
    assert out.exit_code == 2 and "UTF-8" in out.output
