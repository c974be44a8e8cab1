"""One line of a chain, read in the context of its header: an order, an edit, a question, or nothing.

    6. 孟奶奶 再来3斤              add       @孟奶奶 苹果 再加2斤      add
    刘姐：改为6斤                  replace   王芳 不要了 / 老周 撤回    withdraw
    有香油吗？要一瓶                question (a demand signal, never an order)
    1. 王芳 2袋 自提：康宁大药房     an order with its pickup point
    5. 赵姐 1份 不要香菜            an order with a remark in its note

Whatever is left over that is neither an item nor a recognised remark makes the whole line
unreadable: a line is read completely or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crowdfund.chain_model import ChainItem, Kind
from crowdfund.chain_text import NUM, UNIT, product_name, read_items, read_quantity, take_prices, tidy
from crowdfund.chain_who import ORGANIZERS, Who, read_who

_CHATTER = re.compile(r"撤回了一条消息|拍了拍|加入了群聊|邀请.*加入|修改群名|^\W*$")
_PICKUP = re.compile(
    r"(?:自提点?|自取|提货点?)\s*[:：]?\s*(?P<a>[^\s,，;；:：]{2,20})"
    r"|(?P<b>[^\s,，;；:：\d]{2,20}?)(?:自提|自取|取货)"
    r"|(?:放到|放在|放|送到|送至)(?P<c>[^\s,，;；:：?吗么呢]{0,16}(?:柜|药房|驿站|前台|门卫|物业|超市|店|"
    r"中心|服务站|号楼|栋|传达室))(?![吗么呢?])"
    r"|(?<!\S)(?P<d>[^\s,，;；:：\d]{0,8}(?:快递柜|药房|驿站|前台|门卫|物业|便利店))(?!\S)")
_THANKS = re.compile(r"(?:谢谢|谢啦|多谢|感谢|辛苦|麻烦(?:你|您|了|啦|团长|群主)|拜托|不好意思|thx|thanks)\S*",
                     re.IGNORECASE)
_PARTICLE = re.compile(r"(?<=\S)[吧哈呀啦哦]+(?=\s|$)")
# A remark changes how, not what: "不要香菜", "少放盐", "杀好", "要肥一点的", "周四晚上来取", "自提".
_REMARK = re.compile(r"^(?!不要了|不要啦|取消|撤回|退)(?:不|别|少|多|免|去|杀|切|送|备注|微辣|加|软|嫩|肥|瘦|自提|"
                     r"能|可以|请|帮|熟|周[一二三四五六日天]|今天|明天|后天|早上|上午|中午|下午|晚上)"
                     r"|^要(?:[杀切熟肥瘦嫩软大小活公母辣甜咸冰热]|.*的$)|(?:一点|多点|少点|点儿|一些)的?$")
_GLUED_REMARK = re.compile(rf"(?<=\d)({UNIT})(?=(?:杀|切|去|不|少|多|要|送)[^\d\s]*(?:\s|$))")
_QUESTION = re.compile(r"\?|(?:吗|么|没有)(?:\s|$|[,，。!])|^(?:请问|有没有|能不能|可不可以|什么时候|几点|"
                       r"啥时候|哪天|多少钱|怎么|是不是|还有没有)")
_ASKED = [re.compile(r"有(?:没有)?(?P<p>[^\s?吗么,，]+?)(?:吗|么|没有|没)"),
          re.compile(r"(?P<p>[^\s?有,，]+?)(?:还)?有(?:没有|吗|么|没)"),
          re.compile(r"有没有(?P<p>[^\s?,，]+)")]
_WANTED = re.compile(rf"(?:想要|要|来|订)?\s*(?P<q>{NUM}\s*{UNIT}半?)")
_KEYWORDS: list[tuple[Kind, str]] = [
    ("withdraw", r"不要了|不要啦|撤回|撤销|取消|退出|删除|删掉|退掉|退了|不要"),
    ("replace", r"改为|改成|换成|更正为|更改为|修改为|修改成|改"),
    ("add", r"再来|再加|再要|追加|多要|加"),
]
_FILLER_START = re.compile(r"^(?:团长|群主)?\s*(?:我的|我要|我想|我|帮我|麻烦)?\s*")


@dataclass
class Context:
    """What the header tells about every line: the chain's one product, the products it names."""

    product: str = ""
    products: frozenset[str] = frozenset()

    def known(self, name: str) -> bool:
        return name in self.products or name == self.product


@dataclass
class Reading:
    kind: Kind | None  # None: a question
    who: Who
    items: list[ChainItem]
    notes: list[str] = field(default_factory=list)
    pickup: str = ""


def _pickup(text: str) -> tuple[str, str]:
    m = _PICKUP.search(text)
    if not m:
        return text, ""
    place = next(g for g in m.groups() if g)
    return (text[:m.start()] + " " + text[m.end():]).strip(), place


def _items(chunks: list[str], ctx: Context, prices: list[int], *,
           bare: bool = False) -> tuple[list[ChainItem], list[str]] | None:
    """Items and remarks; None when anything else is left."""
    remarks: list[str] = []
    kept: list[str] = []
    for n, chunk in enumerate(chunks):
        follows_qty = n + 1 < len(chunks) and re.match(rf"{NUM}\s*{UNIT}|[xX*×]\d", chunks[n + 1])
        if (_REMARK.search(chunk) and not re.search(rf"\d|{NUM}{UNIT}", chunk) and not follows_qty and kept
                and not ctx.known(product_name(chunk) or chunk)):
            remarks.append(chunk)
        else:
            kept.append(chunk)
    items = read_items(" ".join(kept), header_product=ctx.product, known=ctx.known,
                       prices=prices, bare=bare)
    return (items, remarks) if items is not None else None


def _edit(chunks: list[str], ctx: Context, prices: list[int]) -> tuple[Kind, list[ChainItem], list[str]] | None:
    text = _FILLER_START.sub("", " ".join(chunks))
    for kind, words in _KEYWORDS:
        for m in re.finditer(words, text):
            before, after = text[:m.start()].strip(), text[m.end():].strip()
            if len(m.group(0)) == 1 and not re.match(rf"{NUM}", after):
                continue  # "加多宝2箱" is a product; "加2斤" an edit
            if kind == "withdraw":
                first, _, reason = re.sub(r"[,，。]", "\0", after, count=1).partition("\0")
                ordered = _items(before.split(), ctx, prices) if before else ([], [])
                names = [i.product for i in ordered[0]] if ordered else [product_name(p) for p in before.split()]
                if first.strip() or None in names:
                    continue  # "1份 不要香菜" is a remark, not a withdrawal
                notes = [reason.strip()] if reason.strip() else []
                return kind, [ChainItem(product=n, qty=0, unit="") for n in names if n], notes
            read = _items(after.split(), ctx, prices, bare=True)
            if not read or not read[0]:
                continue
            items, notes = read
            old = _items(before.split(), ctx, prices, bare=True) if before else ([], [])
            if old is None:
                named = product_name(before)
                if named is None or " " in before:
                    continue
                old = ([ChainItem(product=named, qty=0, unit="")], [])
            products = {i.product for i in old[0]} - {""}
            if len(products) > 1:
                continue
            if products:  # "苹果 再加2斤", "苹果10斤 改为8斤"
                product = products.pop()
                items = [ChainItem(product=product, qty=i.qty, unit=i.unit, price=i.price)
                         if i.from_header or not i.product else i for i in items]
            return kind, items, notes + old[1]
    return None


def _question(chunks: list[str]) -> list[ChainItem]:
    """What a question asks for with a quantity: "有香油吗？要一瓶" -> 香油 1 瓶."""
    text = " ".join(chunks)
    head, _, tail = text.partition("?")
    for pattern in _ASKED:
        m = pattern.search(head)
        product = product_name(m["p"]) if m else None
        wanted = _WANTED.search(tail or head[m.end():]) if m else None
        qty = read_quantity(wanted["q"]) if product and wanted else None
        if product and qty:
            return [ChainItem(product=product, qty=qty[0], unit=qty[1])]
    return []


def _rest_reads(chunks: list[str], ctx: Context, prices: list[int]) -> bool:
    """Whether what follows a name reads: items, an edit, or nothing at all in a one-product chain."""
    if not chunks:
        return bool(ctx.product)
    read = _items(chunks, ctx, prices)
    return bool(read and read[0]) or _edit(chunks, ctx, prices) is not None


def read_line(text: str, ctx: Context) -> Reading | None:
    """The line (without its chain number) as an order, an edit or a question; None if unreadable."""
    if _CHATTER.search(text):
        return None
    text = re.sub(r"\((\d[^()]*)\)", r" \1 ", text)  # "(9号楼)何"
    text = re.sub(r"^(?!\d+:)([^\s:@]{1,16}):\s*", r"\1 ", text)  # "刘姐：改为6斤", "8-601刘：改成2份"
    text = re.sub(r"@(?:" + "|".join(ORGANIZERS) + r")\S*", " ", text)
    text, pickup = _pickup(text)
    text = _PARTICLE.sub("", _THANKS.sub(" ", text))
    text, prices = take_prices(_GLUED_REMARK.sub(r"\1 ", tidy(text)))
    chunks = text.replace("?", "? ").split()
    if not chunks:
        return None
    asked = bool(_QUESTION.search(text))
    found = read_who(chunks, reads=lambda rest: _rest_reads(rest, ctx, prices), is_product=ctx.known)
    if found is None and not asked:
        return None
    who, rest = found if found else (Who(), chunks)
    if not asked:
        edit = _edit(rest, ctx, prices)
        if edit:
            return Reading(edit[0], who, edit[1], who.notes + edit[2], pickup)
    read = _items(rest, ctx, prices) if rest else ([], [])
    if read is not None and who.found() and (read[0] or not asked):
        return Reading("order", who, read[0], who.notes + read[1], pickup)
    if asked:
        return Reading(None, who, _question(rest), who.notes, pickup)
    return None


def read_continuation(text: str, ctx: Context) -> list[ChainItem] | None:
    """The items of a line under a name line ("3. 孟奶奶" then "苹果3斤"); None unless it is only items."""
    if _CHATTER.search(text) or _QUESTION.search(text):
        return None
    text, prices = take_prices(tidy(_PARTICLE.sub("", _THANKS.sub(" ", text))))
    read = _items(text.split(), ctx, prices)
    return read[0] if read and read[0] else None
