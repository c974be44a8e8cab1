"""The corpus of chains under tests/chains: every line read right or refused, none read wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crowdfund.chain_corpus import CorpusError, describe, parse_expect, score_chain, score_corpus, share_right, summary
from crowdfund.commands import chain

CORPUS = Path(__file__).parent / "chains"


def test_the_corpus_is_read_right_or_refused_and_never_wrong() -> None:
    """No line of the corpus is misread, at least 95% of its order lines are read right, and the
    corpus holds at least 300 lines."""
    scores = score_corpus(CORPUS)
    print("\n" + "\n".join(summary(scores)))  # the figure docs/chains.md tracks
    wrong = [describe(s) for s in scores if s.outcome == "wrong"]
    assert not wrong, "\n".join(wrong)
    assert len(scores) >= 300
    assert share_right(scores) >= 0.95, summary(scores)


def test_a_wrong_reading_is_scored_wrong_and_a_refusal_refused() -> None:
    """The scorer tells apart a line read as expected, one reported unread and one read otherwise."""
    text = "#接龙 周六红薯团购\n1. 王玉香 10斤\n2. 李爱荣 红薯 很多\n3. 老马 5斤\n"
    expect = "- title\n#1 王玉香 | 红薯 10 斤\n#2 李爱荣 | 红薯 1 斤\n#3 老马 | 红薯 6 斤\n"
    assert [s.outcome for s in score_chain("t", text, expect)] == ["right", "right", "refused", "wrong"]


def test_an_expectation_file_that_does_not_fit_its_chain_is_an_error() -> None:
    """A chain and its .expect with different line counts, or an unknown field, are refused."""
    with pytest.raises(CorpusError):
        score_chain("t", "1. 王 红薯10斤\n2. 李 红薯5斤\n", "#1 王 | 红薯 10 斤\n")
    with pytest.raises(CorpusError):
        parse_expect("#1 王 | 红薯 10 斤 | colour=red")


def test_the_expectation_format() -> None:
    """Kinds, chain numbers, households, items with prices, pickup and note all come through."""
    e = parse_expect("add #6 孟奶奶 @17-1205 | 苹果 3 斤, 梨 2.5 斤 ¥3.5 | pickup=康宁大药房 | note=不要香菜")
    assert (e.mark, e.kind, e.line, e.name, e.building, e.room) == ("order", "add", 6, "孟奶奶", "17", "1205")
    assert e.items == [("苹果", 3, "斤", 0), ("梨", 2.5, "斤", 350)]
    assert (e.pickup, e.note) == ("康宁大药房", "不要香菜")
    assert parse_expect("? | 香油 1 瓶").items == [("香油", 1, "瓶", 0)]
    assert [parse_expect(m).mark for m in ("- header", "=", "+")] == ["-", "=", "+"]


def test_cli_scores_a_corpus_and_fails_on_a_wrong_line(tmp_path: Path) -> None:
    """`linli chain score DIR` prints the shares and exits 1 when any line is read wrong."""
    (tmp_path / "a.txt").write_text("#接龙 周六红薯团购\n1. 王玉香 10斤\n", encoding="utf-8")
    (tmp_path / "a.expect").write_text("- title\n#1 王玉香 | 红薯 10 斤\n", encoding="utf-8")
    out = CliRunner().invoke(chain, ["score", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "order lines     1: right 1 (100.0%), refused 0 (0.0%), wrong 0 (0.0%)" in out.output
    (tmp_path / "a.expect").write_text("- title\n#1 王玉香 | 红薯 9 斤\n", encoding="utf-8")
    out = CliRunner().invoke(chain, ["score", str(tmp_path)])
    assert out.exit_code == 1 and "a:2 wrong" in out.output
    (tmp_path / "b.txt").write_text("1. 王 红薯10斤\n", encoding="utf-8")
    out = CliRunner().invoke(chain, ["score", str(tmp_path)])
    assert out.exit_code == 2 and "b.expect" in out.output
