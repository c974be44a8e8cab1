"""Match the names and product texts of a pasted chain to residents and catalog products.

Exact names and aliases first, then containment, then fuzzy (rapidfuzz). What matches nothing
well enough is reported to the organizer instead of guessed.
"""

from __future__ import annotations

import unicodedata

from rapidfuzz import fuzz, process

from crowdfund.catalog import ProductView

NAME_MIN_SCORE = 85
PRODUCT_MIN_SCORE = 80


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def match_resident(name: str, residents: list[dict[str, str | None]]) -> str | None:
    """The id of the resident called ``name``; None when nobody matches closely enough."""
    folded = _fold(name)
    exact = [r["id"] for r in residents if _fold(r["name"] or "") == folded]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None  # two residents of that name: the organizer decides
    choices = {r["id"]: _fold(r["name"] or "") for r in residents}
    best = process.extractOne(folded, choices, scorer=fuzz.ratio, score_cutoff=NAME_MIN_SCORE)
    return best[2] if best else None


def match_product(text: str, products: list[ProductView]) -> ProductView | None:
    """The catalog product a chain's product text means (name, alias, containment, then fuzzy)."""
    folded = _fold(text)
    names: dict[str, ProductView] = {}
    for p in products:
        for label in [p.name, *p.aliases]:
            names[_fold(label)] = p
    if folded in names:
        return names[folded]
    contained = {id(p): p for label, p in names.items() if label and (label in folded or folded in label)}
    if len(contained) == 1:
        return next(iter(contained.values()))
    best = process.extractOne(folded, list(names), scorer=fuzz.WRatio, score_cutoff=PRODUCT_MIN_SCORE)
    return names[best[0]] if best else None
