"""What a chain's header says: its one product, the products its price list or menu names, its packs.

    #接龙
    周六 现做豆腐脑 一份两碗 12元          -> the one product 豆腐脑, 份 = 2 碗, 12元
    苹果 5元/斤  梨 3.5元/斤              -> a price list: 苹果, 梨 (no single product)
    今日菜单：  1. 红烧肉  2. 番茄炒蛋       -> a menu: known products, never orders

A chain has one product when its header prices exactly one, or prices none and its title names
exactly one. Category words (水果, 蔬菜, 海鲜) never make one.
"""

from __future__ import annotations

import re

from crowdfund.chain_model import ChainHeader, Pack
from crowdfund.chain_text import NUM, PRICE_MARK, UNIT, number, take_prices

_TAGS = re.compile(r"#\S*|【[^】]*】|\[[^\]]*\]|\([^)]*\)|[～~]+|-{2,}|={2,}|\*{2,}")
_WHEN = re.compile(r"今天的?|明天的?|后天|明早|今晚|明晚|今早|本周[一二三四五六日天]?|下周[一二三四五六日天]?|"
                   r"周[一二三四五六日天]|星期[一二三四五六日天]|礼拜[一二三四五六日天]|\d+月\d+[日号]?|\d+[日号]|"
                   r"早上|上午|中午|下午|晚上|傍晚|\d+点半?前?|\d+:\d+|到货|开始啦|开始了|开始|"
                   r"冬至|中秋节?|端午节?|元宵节?|春节|国庆|元旦|除夕")
_ORDERING = re.compile(r"群接龙|接龙|团购|拼单|拼团|开团|下单|预定|预订|订购|报名|统计|团(?=\s|$)")
_DESCRIPTOR = re.compile(r"^(?:现做|现包|现磨|现蒸|现炸|现摘|现杀|现烤|新鲜|当季|应季|农家|自家|纯手工|手工|正宗|精品|"
                         r"特价|优质|散养|野生|今日|每日|特惠)+")
_GENERIC = re.compile(r"水果|蔬菜|果蔬|生鲜|菜品|美食|食材|特产|粮油|杂货|肉类|鲜肉|海鲜|零食|百货|商品|两种|套餐|"
                      r"菜篮子|食堂")
_VERB = re.compile(r"^(?:买|订|要|抢|来|预定|预订|团)")
# How long an order runs is not the product: "鲜牛奶月卡" sells 鲜牛奶.
_PORTION = re.compile(rf"每(?:人|{UNIT})")
_PERIOD = re.compile(r"(?:月卡|周卡|季卡|年卡|次卡|包月|月订|周订)$")
_INFO = re.compile(r"自提|送|截止|截单|地址|不接受|注意|备注|可以|回复|发货|格式|每天|每周|每月|包邮|起$|"
                   r"顺丰|冷链|快递|直发|产地|现货|预售|空运|到付")
_PACKS = [re.compile(rf"(?P<n>{NUM})(?P<of>{UNIT})\s*(?:[一每]|/)\s*(?P<unit>{UNIT})"),  # 10斤一袋, 30枚/板
          re.compile(rf"[一每](?P<unit>{UNIT})约?(?P<n>{NUM})(?P<of>{UNIT})")]  # 一板30枚, 一只约3斤
_LIST_LABEL = re.compile(r"^(?:品种|品名|菜单|今日菜单|菜品|商品|种类|今日有)[:：]")
_LABEL = re.compile(r"^(?P<label>[^\s:：]{1,6})[:：]")
_EXAMPLE = re.compile(r"^(?:例|示例|举例|格式|下单格式|参考)|例子")
_MENU_ITEM = re.compile(r"^\d{1,2}\s*[.、)):]?\s*(?P<item>[^\d\s]{1,10})$")
_ORGANIZER_LABEL = re.compile(r"^(?:团长|群主|管理员|老板)[:：]\s*")


_TITLE_WORD = re.compile(r"(?P<w>[^\s\d]+?)(?:群接龙|接龙|团购|拼单|拼团|开团|预定|预订|订购)")
_BRACKETED = re.compile(r"【(?P<b>[^】]*)】")
_ESTATE_OR_ORG = re.compile(r"[苑园府庭城湾邸]|小区|社区|邻里|食堂|接龙|团购")


def is_example(row: str) -> bool:
    """"例 3-1205 两份", "格式：楼号 姓名 品名数量", "(这是例子)": how to write a line, never an order."""
    return bool(_EXAMPLE.search(row))


def _word(text: str) -> str:
    """A product as a header names it: the last word before its price or pack, without tags, dates,
    ordering words, descriptors, and words that are not things ("新鲜牛奶 每天早上送 一个月30瓶 150元")."""
    text = _ORDERING.sub(" ", _WHEN.sub(" ", _TAGS.sub(" ", text)))
    words = [w for w in re.split(r"[\s+、/:：]+", text) if w and not re.search(rf"\d|{NUM}{UNIT}", w)
             and not _INFO.search(w) and not re.fullmatch(rf"(?:{UNIT}|[A-Za-z*]+)+", w)]
    if not words:
        return ""
    word = _PERIOD.sub("", _DESCRIPTOR.sub("", _VERB.sub("", words[-1].strip("的"))))
    # Only what looks like a product's name: a misread header would misread every line that relies on it.
    if not re.fullmatch(r"[\u4e00-\u9fffA-Za-z]{1,10}", word) or not _GENERIC.sub("", word):
        return ""
    if _PORTION.match(word):
        return ""  # "每份两荤一素配米饭 20元": what a portion holds, not what the chain sells
    return word


def _packs(text: str) -> tuple[str, list[tuple[str, float, str]]]:
    found: list[tuple[str, float, str]] = []
    for pattern in _PACKS:
        for m in pattern.finditer(text):
            n = number(m["n"])
            if n and m["unit"] != m["of"]:
                found.append((m["unit"], n, m["of"]))
        text = pattern.sub(" ", text)
    return text, found


def read_header(rows: list[str]) -> ChainHeader:
    """The header's products and packs, from its rows (cleaned, in order, orders excluded)."""
    priced: list[str] = []
    titles: list[str] = []
    listed: list[str] = []
    packs: list[Pack] = []
    price, seen_title = 0, False
    for row in rows:
        row = _ORGANIZER_LABEL.sub("", row)
        if is_example(row):
            continue
        menu = _MENU_ITEM.match(row)
        if menu:
            listed.append(_DESCRIPTOR.sub("", menu["item"]))
            continue
        if _LIST_LABEL.match(row):
            listed += [w for w in re.split(r"[\s、,，/]+", row.split(":", 1)[-1].split("：", 1)[-1]) if w]
            continue
        label = _LABEL.match(row)
        if label:
            _, prices = take_prices(row)
            if prices and not _INFO.search(label["label"]):
                priced.append(label["label"])  # "A餐：红烧排骨+时蔬+米饭 22元"
            continue
        is_title = bool(_ORDERING.search(row)) or not seen_title
        previous = ""
        for clause in re.split(r"[,，。;；!！]", row):
            text, prices = take_prices(clause)
            segments = text.split(PRICE_MARK)
            before = ""
            for n, segment in enumerate(segments):
                segment, found = _packs(segment)
                word = _word(segment) if n < len(prices) else ""
                if not word and n == 0 and len(prices) == 1 and "的" in previous:
                    word = _word(previous.rsplit("的", 1)[-1])  # "明天有新到的丑橘，10斤一箱 50元"
                if word:
                    priced.append(word)
                    before = word
                elif n < len(prices) and not priced:
                    price = prices[n]  # "米饭管够，15元一份": the price of the title's product
                packs += [Pack(unit=u, qty=int(q) if q == int(q) else q, of=o, product=word or before)
                          for u, q, o in found]
                if word and n < len(prices) and not price:
                    price = prices[n]
            if not prices and is_title:  # "苹果接龙", "午餐接龙": the word the ordering word is about
                for m in _TITLE_WORD.finditer(_TAGS.sub(" ", text)):
                    word = _word(m["w"])
                    if word and len(word) >= 2:
                        titles.append(word)
            previous = clause
        seen_title = seen_title or bool(_TAGS.sub("", row).strip("#接龙 "))
    if not priced and not titles:  # "【周四蔬菜盲盒】 每份约5斤 29.9元/份": the product in the brackets
        for row in rows[:3]:
            for m in _BRACKETED.finditer(row):
                word = _word(m["b"])
                if word and len(word) >= 2 and not _ESTATE_OR_ORG.search(m["b"]):
                    titles.append(word)
    single = ""
    if len(set(priced)) == 1:
        single = priced[0]
    elif not priced and len(set(titles)) == 1:
        single = titles[0]
    single = single if len(single) >= 2 else ""
    products = list(dict.fromkeys([*priced, *listed, *([single] if single else [])]))
    return ChainHeader(product=single, products=products, packs=packs, price=price if single else 0)
