"""What a chain reading is made of: items, entries (orders and edits), questions, the header."""

from __future__ import annotations

from typing import Literal

import msgspec

# order: a line of the chain. add / replace / withdraw: a later line that changes what that
# person (or household) ordered: "再来3斤", "改为6盒", "不要了".
Kind = Literal["order", "add", "replace", "withdraw"]


class ChainItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    product: str  # as written, or the header's product (from_header); "" when an edit names none
    qty: int | float  # in ``unit``; 0 in a withdrawal, which names what is withdrawn
    unit: str  # as written ("箱", "板", "斤"); "" when the line gives a bare number or none
    price: int = 0  # cents per unit when the line names a price ("梨3.5元一斤的要六斤" -> 350)
    from_header: bool = False  # the line named no product: the chain's one product is meant


class ChainEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    line: int  # the chain's own number; 0 for a chat line without one
    name: str  # the person, clean ("" when only a household is given: "3-1205 两份")
    items: list[ChainItem]
    note: str  # what is not an order: buildings as written, estate names, remarks ("不要香菜")
    row: int = 0  # where it starts in the pasted text, counting from 1
    end_row: int = 0  # the last row of an entry whose items follow its name line, else omitted
    kind: Kind = "order"
    building: str = ""  # the household: 3 and 1205 in "3-1205", "3号1205", "3栋1205室"
    room: str = ""
    pickup: str = ""  # a pickup point named on the line ("自提：康宁大药房", "放快递柜")

    def key(self) -> str:
        """A stable identity: the same chain line pasted again has the same key."""
        items = ";".join(f"{i.product}={i.qty}{i.unit}" for i in self.items)
        key = f"{self.line}|{self.name}|{items}"
        if self.kind != "order":
            key += f"|{self.kind}"
        if self.line == 0 and (self.building or self.room):
            key += f"|{self.building}-{self.room}"
        return key

    def content_key(self) -> str:
        """The line's content without its number: unchanged when a chain is renumbered."""
        items = ";".join(sorted(f"{i.product}={i.qty}{i.unit}" for i in self.items))
        return f"{self.kind}|{self.name}|{self.building}-{self.room}|{items}|{self.pickup}"


class ChainQuestion(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A question is never an order; what it asks for is a demand signal ("有香油吗？要一瓶")."""

    row: int
    text: str
    line: int = 0
    name: str = ""
    building: str = ""
    room: str = ""
    items: list[ChainItem] = []  # what the asker wants, when the question names it with a quantity


class Pack(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A pack the header declares: "一板30枚" is 板 = 30 枚, "10斤一袋" is 袋 = 10 斤."""

    unit: str
    qty: int | float
    of: str
    product: str = ""  # the product it was declared for, when the header names one


class ChainHeader(msgspec.Struct, kw_only=True, omit_defaults=True):
    product: str = ""  # the one product of a single-product chain ("现做豆腐脑 一份两碗 12元" -> 豆腐脑)
    products: list[str] = []  # every product the header, its price list or its menu names
    packs: list[Pack] = []
    price: int = 0  # cents, the single product's price when the header gives one


class ChainParse(msgspec.Struct, kw_only=True, omit_defaults=True):
    entries: list[ChainEntry]
    unparsed: list[str]  # every other non-blank line: headers, menus, examples, chatter, refusals
    questions: list[ChainQuestion] = []
    header: ChainHeader | None = None
