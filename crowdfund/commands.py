"""`linli chain parse` and `linli aggregate`: the crowdfunding tools an organizer runs by hand."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import click
import msgspec

from crowdfund.aggregate import AggregationError, Catalog, Product, Wish, aggregate
from crowdfund.chain import chain_to_json, parse_chain


class Wishes(msgspec.Struct, kw_only=True):
    wishes: list[Wish]


@click.group()
def chain() -> None:
    """Group-chat 接龙 chains."""


@chain.command("parse")
@click.argument("file", type=click.File("rb"), default="-")
def chain_parse(file: BinaryIO) -> None:
    """Parse a pasted chain (FILE, or standard input) into JSON entries and unreadable lines."""
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError("the chain is not UTF-8 text; save it as UTF-8 and try again") from exc
    sys.stdout.buffer.write(chain_to_json(parse_chain(text)) + b"\n")


AGGREGATE_HELP = """Aggregate wishes into supplier orders (MOQ, whole cases, capacity, price tiers) and print JSON.

\b
CATALOG.json: {"products": [PRODUCT, ...]} or just [PRODUCT, ...], where PRODUCT is
  {"id": "hongshu", "name": "红薯", "supplier_id": "farm1", "unit": "斤", "case_size": 10,
   "moq": 30, "capacity": 500, "tiers": [{"min_qty": 0, "price_cents": 400}, ...]}
WISHES.json: {"wishes": [WISH, ...]} or just [WISH, ...], in submission order, where WISH is
  {"resident_id": "r1", "product_id": "hongshu", "qty": 12, "pickup_point_id": "p1"}

\b
Quantities are whole numbers in the product's unit, prices integer cents (分).
Examples: docs/examples/aggregate-catalog.json and docs/examples/aggregate-wishes.json;
the rules and the output are described in docs/api.md ("linli aggregate").
"""


def _decode(raw: bytes, kind: Any, what: str) -> Any:
    """A file's JSON as ``kind``; a clear message for anything else."""
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise click.UsageError(f"cannot aggregate: {what}: {exc} (see linli aggregate --help)") from exc
    except msgspec.DecodeError as exc:
        raise click.UsageError(f"cannot aggregate: {what} is not JSON: {exc}") from exc


@click.command("aggregate", help=AGGREGATE_HELP)
@click.argument("catalog_file", metavar="CATALOG.json", type=click.File("rb"))
@click.argument("wishes_file", metavar="WISHES.json", type=click.File("rb"))
def aggregate_cmd(catalog_file: BinaryIO, wishes_file: BinaryIO) -> None:
    catalog = _decode(catalog_file.read(), Catalog | list[Product], "the catalog")
    wishes = _decode(wishes_file.read(), Wishes | list[Wish], "the wishes")
    try:
        result = aggregate(catalog if isinstance(catalog, Catalog) else Catalog(products=catalog),
                           wishes.wishes if isinstance(wishes, Wishes) else wishes)
    except AggregationError as exc:
        raise click.UsageError(f"cannot aggregate: {exc}") from exc
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
