"""Who a chain line is for: a name, a household (building and room), an estate, in any order.

    3-1205 两份          阿梅 6-702 1份        6-702老周 2份        9号楼阿姨 一份
    17栋 孟奶奶 苹果5斤   44栋蒋红梅 香蕉2斤     锦园-王大爷 葡萄2斤    东苑 老杨 苹果10斤

Every dash people type between building and room (-, —, 一, 号) names the same household. The
name comes out clean; the building and estate go to the note as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from crowdfund.chain_text import NUM, UNIT

_DASH = "[-—–~一]"
# (building, unit, room) in the forms group chats use, most specific first.
_HOUSEHOLDS = [
    re.compile(rf"(?P<b>\d{{1,3}}){_DASH}(?P<u>\d{{1,2}}){_DASH}(?P<r>\d{{3,4}})(?:室|号)?"),
    re.compile(r"(?P<b>\d{1,3})(?:栋|幢|号楼|号|座)(?P<u>\d{1,2})单元(?P<r>\d{3,4})(?:室|号)?"),
    re.compile(r"(?P<b>\d{1,3})(?:栋|幢|号楼|号|座)(?P<r>\d{3,4})(?:室|号)?"),
    re.compile(rf"(?P<b>\d{{1,3}}){_DASH}(?P<r>\d{{3,4}})(?:室|号)?"),
    re.compile(r"(?P<b>\d{1,3})(?:栋|幢|号楼)(?:(?P<u>\d{1,2})单元)?"),  # 楼 alone is a floor, not a building
]
_ROOM = re.compile(r"\d{3,4}(?:室|号)?")
_ROOM_FIRST = re.compile(r"(?P<r>\d{3,4})(?:室|号)?(?=[^\d\s号栋楼单元幢座层]|$)")  # "1201王 1份", "1205 两份"
_NOTE_ONLY = re.compile(r"\d{1,2}单元|[A-Za-z]\d*座|\d+座|\d+层|\d+楼")
_ESTATE = re.compile(r"(?P<e>[\u4e00-\u9fff]{1,5}(?:苑|园|府|小区|花园|家园|公寓|庭|城|湾|邸|新村|社区))[-—~]*")
ORGANIZERS = ("团长", "群主", "管理员", "老板", "所有人", "团团")
# Words that start a line but are never somebody's name.
_NOT_NAMES = re.compile(r"^(?:请问|谢谢|多谢|感谢|收到|好的|好滴|可以|已|截单|截止|例|格式|示例|注意|自提|有没有|"
                        r"有|还有|多少|什么|几点|再来|再加|改为|改成|不要|撤回|取消|辛苦|麻烦|大家|各位|亲们|今天|明天|"
                        r"周[一二三四五六日天]|团长|群主)")
_TITLES = ("奶奶", "爷爷", "大爷", "阿姨", "老师", "大妈", "大姐", "大哥", "婆婆", "妈妈", "爸爸", "师傅", "宝妈",
           "姐", "哥", "姨", "叔", "伯", "婶", "嫂", "妈", "爸", "爷", "奶", "姑", "舅", "头")
_SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
                "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
                "向汤褚卫尤施华殷郎鲁柏窦章云葛奚喻昌苗凤毕岳齐康伍祁俞")


@dataclass
class Who:
    name: str = ""
    building: str = ""
    room: str = ""
    notes: list[str] = field(default_factory=list)

    def found(self) -> bool:
        return bool(self.name or self.building or self.room)


def person_like(word: str) -> bool:
    """A name as people write them: 老周, 小李, 阿梅, 刘姐, 王奶奶, 冯建军, 王, Lily."""
    if re.fullmatch(r"[A-Za-z]{2,12}|[A-Za-z][\u4e00-\u9fff]{1,3}", word):
        return True
    if not re.fullmatch(r"[\u4e00-\u9fff]{1,5}", word):
        return False
    return (word[0] in "老小阿" and len(word) <= 3) or word.endswith(_TITLES) or (
        word[0] in _SURNAMES and len(word) <= 3)


def name_ok(word: str) -> bool:
    """Could this be somebody's name: no digits, no quantity (两份, A餐一份), no greeting or question."""
    return (bool(word) and len(word) <= 12 and not re.search(rf"[\d?]|吗$|{NUM}{UNIT}|[xX*×]\d", word)
            and not _NOT_NAMES.match(word) and not word.startswith(ORGANIZERS) and bool(re.search(r"[\w]", word)))


def _household(chunk: str) -> tuple[re.Match[str], str] | None:
    """The household a chunk starts with, and what follows it."""
    for pattern in _HOUSEHOLDS:
        m = pattern.match(chunk)
        if m:
            return m, chunk[m.end():]
    return None


def _take_place(who: Who, chunk: str, next_chunk: str | None) -> tuple[bool, str, bool]:
    """Add a place chunk to ``who``: (was it one, a name glued after it, did it use ``next_chunk``)."""
    found = _household(chunk)
    if found:
        m, rest = found
        room = m.groupdict().get("r") or ""
        if who.building or who.room:
            return (who.building, who.room) == (m["b"], room or who.room) and not rest, "", False
        who.building, who.room = m["b"], room
        who.notes.append(m.group(0))
        used = False
        if not who.room and not rest and next_chunk and _ROOM.fullmatch(next_chunk):
            who.room, used = next_chunk.rstrip("室号"), True  # "9栋 1502"
            who.notes[-1] += " " + next_chunk
        return True, rest.strip("-—~:"), used
    if _NOTE_ONLY.fullmatch(chunk):
        who.notes.append(chunk)
        return True, "", False
    return False, "", False


# Whether the rest of a line reads (as items, an edit, or remarks), used to tell a name from a product.
RestReads = Callable[[list[str]], bool]
IsProduct = Callable[[str], bool]


def read_who(chunks: list[str], *, reads: RestReads, is_product: IsProduct) -> tuple[Who, list[str]] | None:
    """Who the line is for, and the chunks that remain; None when a line names nobody clearly."""
    who, i, chunks = Who(), 0, list(chunks)
    if chunks and chunks[0].startswith("@"):
        target, i = chunks[0][1:], 1
        if not target.startswith(ORGANIZERS):
            if not name_ok(target):
                return None
            who.name = target
    after_place = False
    room_only = _ROOM_FIRST.match(chunks[i]) if i < len(chunks) and not _household(chunks[i]) else None
    if room_only and not re.match(rf"\d+{UNIT}", chunks[i]) and (room_only.end() < len(chunks[i]) or chunks[i + 1:]):
        who.room, rest = room_only["r"], chunks[i][room_only.end():]
        who.notes.append(room_only.group(0))
        chunks[i:i + 1] = [rest] if rest else []
        after_place = True
    while i < len(chunks):
        chunk, nxt = chunks[i], chunks[i + 1] if i + 1 < len(chunks) else None
        was_place, glued, used = _take_place(who, chunk, nxt)
        if was_place:
            i += 2 if used else 1
            if glued:
                if who.name or not name_ok(glued):
                    return None
                who.name = glued
            after_place = True
            continue
        if who.name:
            break
        estate = _ESTATE.match(chunk)
        if estate and (estate.end() < len(chunk) or (nxt is not None and not reads(chunks[i:]) and (
                _household(nxt) is not None or name_ok(nxt)))):
            who.notes.append(estate["e"])  # "锦园-王大爷", "东苑6栋", "东苑 老杨"
            rest = chunk[estate.end():]
            chunks[i:i + 1] = [rest] if rest else []
            after_place = True
            continue
        if not name_ok(chunk) or is_product(chunk):
            glued_name = None if (who.building or who.room) else _glued_name(chunk, chunks[i + 1:], reads)
            if glued_name is not None:
                who.name, chunks[i] = glued_name, chunk[len(glued_name):]
            break
        if i > 0 and after_place and not person_like(chunk):
            # After a household: "4-401 静待花开 1份" (a name) or "3-1205 鸡蛋 半箱" (a product)?
            if chunks[i + 1:] and not reads(chunks[i + 1:]):
                break
            if reads(chunks[i:]):
                return None  # either reading works: ask rather than guess
        who.name = chunk
        i += 1
    kept: list[str] = []
    for chunk in chunks[i:]:  # a household written after the items: "红薯10斤 3号楼"
        if not (_household_only(chunk) and _take_place(who, chunk, None)[0]):
            kept.append(chunk)
    return (who, kept) if who.found() else None


def _household_only(chunk: str) -> bool:
    found = _household(chunk)
    return bool(found and not found[1]) or bool(_NOTE_ONLY.fullmatch(chunk))


def _glued_name(chunk: str, rest: list[str], reads: RestReads) -> str | None:
    """A name glued to what follows it: "刘姐3斤扇贝", "刘姐3份" (only for names that look like one)."""
    for k in range(1, min(len(chunk), 6)):
        name = chunk[:k]
        if ((chunk[k].isdigit() or chunk[k] in "两一二三四五六七八九十半") and person_like(name) and name_ok(name)
                and reads([chunk[k:], *rest])):
            return name
    return None
