"""`linli chain parse` and `linli aggregate`: the crowdfunding tools an organizer runs by hand."""

from __future__ import annotations

import sys

import click
import msgspec

from crowdfund.aggregate import AggregationError, Catalog, Wish, aggregate
from crowdfund.chain import chain_to_json, parse_chain


class Wishes(msgspec.Struct, kw_only=True):
    wishes: list[Wish]


@click.group()
def chain() -> None:
    """Group-chat 接龙 chains."""


@chain.command("parse")
@click.argument("file", type=click.File("rb"), default="-")
def chain_parse(file: click.utils.LazyFile) -> None:
    """Parse a pasted chain (FILE, or standard input) into JSON entries and unreadable lines."""
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError("the chain is not UTF-8 text; save it as UTF-8 and try again") from exc
    sys.stdout.buffer.write(chain_to_json(parse_chain(text)) + b"\n")


@click.command("aggregate")
@click.argument("catalog_file", metavar="CATALOG.json", type=click.File("rb"))
@click.argument("wishes_file", metavar="WISHES.json", type=click.File("rb"))
def aggregate_cmd(catalog_file: click.utils.LazyFile, wishes_file: click.utils.LazyFile) -> None:
    """Aggregate wishes into supplier orders (MOQ, whole cases, capacity, price tiers) and print JSON."""
    try:
        catalog = msgspec.json.decode(catalog_file.read(), type=Catalog)
        wishes = msgspec.json.decode(wishes_file.read(), type=Wishes).wishes
        result = aggregate(catalog, wishes)
    except (msgspec.DecodeError, msgspec.ValidationError, AggregationError) as exc:
        raise click.UsageError(f"cannot aggregate: {exc}") from exc
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
