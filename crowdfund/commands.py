"""`linli chain parse`, `linli chain score` and `linli aggregate`: the crowdfunding tools run by hand."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import click
import msgspec

from crowdfund.aggregate import AggregationError, Catalog, Product, Wish, aggregate
from crowdfund.chain import chain_to_json, parse_chain
from crowdfund.chain_corpus import CorpusError, describe, score_corpus, summary


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


@chain.command("score")
@click.argument("corpus_dir", metavar="CORPUS_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--show", type=click.Choice(["none", "misses", "all"]), default="misses", show_default=True,
              help="which lines to list: none, those refused or wrong, or every line")
def chain_score(corpus_dir: Path, show: str) -> None:
    """Read every chain in CORPUS_DIR (NAME.txt beside NAME.expect) and print the share of lines read
    right, refused and wrong; exits 1 when any line is read wrong (docs/chains.md describes the format)."""
    try:
        scores = score_corpus(corpus_dir)
    except (CorpusError, ValueError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"cannot score {corpus_dir}: {exc}") from exc
    for score in scores:
        if show == "all" or (show == "misses" and score.outcome != "right"):
            click.echo(describe(score))
    for line in summary(scores):
        click.echo(line)
    if any(s.outcome == "wrong" for s in scores):
        sys.exit(1)


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
