"""The pages' words live in the catalogues (linli/static/i18n/<lang>.js), by message id.

Every message id the pages use exists in every catalogue, the catalogues hold the same ids with the
same {parameters}, and no Chinese is left in the pages' scripts outside the catalogues (but for a
short, listed set). A static read of the files: no browser, no server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).parent.parent / "linli" / "static"
CATALOGUES = STATIC / "i18n"
LANGUAGES = ("zh", "en")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ENTRY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"):\s*(.*?),\s*$')
PARAM = re.compile(r"\{(\w+)\}")

# Chinese the scripts may hold: the language switch names the other language in its own words.
ALLOWED = {("i18n.js", "中文"), ("i18n.js", "切换到中文")}
# English messages with a parameter the Chinese does without ("王*香 等 12 人" / "王*香 and 11 more";
# the server's own message, which is English).
EXTRA_PARAMS = {"live-commerce.name_and_more_more": {"more"}, "error.other": {"message"}}
# Codes no page shows: the roots of each room's errors, and what only programs or operators meet.
SILENT_CODES = {"error", "community_error", "crowdfund_error", "inventory_error", "stream_error", "bad_frame",
                "token_in_url", "demo_local_only", "not_the_ingest", "no_segment"}
# Scripts that are catalogues themselves.
CATALOGUE_SCRIPTS = {"i18n/zh.js", "i18n/en.js"}


def catalogue(lang: str) -> dict[str, object]:
    """One catalogue as written: one `"id": value,` a line (the value is JSON: a text or {one, other})."""
    entries: dict[str, object] = {}
    for line in (CATALOGUES / f"{lang}.js").read_text(encoding="utf-8").splitlines():
        m = ENTRY.match(line)
        if m:
            entries[json.loads(m.group(1))] = json.loads(m.group(2))
    return entries


def literals(src: str) -> list[tuple[int, str]]:
    """(line, text) of every string and template literal in a script, comments and regexes skipped;
    a template's ${...} parts read as ${}."""
    out: list[tuple[int, str]] = []
    i, n, line, prev = 0, len(src), 1, ""
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            end = src.find("*/", i)
            line += src.count("\n", i, end)
            i = end + 2
        elif c in "\"'`":
            j, buf, start = i + 1, [], line
            while j < n and src[j] != c:
                if src[j] == "\\":
                    buf.append(src[j:j + 2])
                    j += 2
                elif c == "`" and src.startswith("${", j):
                    depth, k = 1, j + 2
                    while k < n and depth:
                        depth += {"{": 1, "}": -1}.get(src[k], 0)
                        k += 1
                    out += [(line + at - 1, inner) for at, inner in literals(src[j + 2:k - 1])]
                    line += src.count("\n", j, k)
                    buf.append("${}")
                    j = k
                else:
                    line += src[j] == "\n"
                    buf.append(src[j])
                    j += 1
            out.append((start, "".join(buf)))
            i = j + 1
        elif c == "/" and prev in "(,=:[!&|?{};":  # a regular expression
            j = i + 1
            while j < n and src[j] not in "/\n":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
        else:
            if not c.isspace():
                prev = c
            i += 1
    return out


def scripts() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.parts)


def test_the_catalogues_hold_the_same_ids_and_parameters() -> None:
    zh, en = catalogue("zh"), catalogue("en")
    assert len(zh) > 300
    assert set(zh) == set(en), f"only in zh: {sorted(set(zh) - set(en))}; only in en: {sorted(set(en) - set(zh))}"
    for key, chinese in zh.items():
        plural = en[key]
        forms = list(plural.values()) if isinstance(plural, dict) else [plural]
        assert isinstance(chinese, str) and chinese and all(isinstance(v, str) and v for v in forms), key
        # English fills in only what the page passes for the Chinese (a misspelt {name} shows empty);
        # it may leave a parameter out, or take one listed here that the Chinese writes otherwise.
        want = set(PARAM.findall(chinese)) | EXTRA_PARAMS.get(key, set())
        for form in forms:
            assert set(PARAM.findall(str(form))) <= want, (key, form)
        if isinstance(plural, dict):
            assert set(plural) <= {"zero", "one", "two", "few", "many", "other"} and "other" in plural, key
    for key, value in en.items():
        if not key.startswith("common.other_language"):
            text = " ".join(value.values()) if isinstance(value, dict) else str(value)
            # English may quote what residents type (红薯+1, 接龙) but is never a Chinese sentence.
            assert len(CJK.findall(text)) <= 6, (key, text)


def test_every_message_id_the_pages_use_is_in_every_catalogue() -> None:
    known = catalogue("zh")
    prefixes = {key.split(".")[0] for key in known}
    used: dict[str, str] = {}
    for path in scripts() + sorted(STATIC.glob("*.html")):
        if str(path.relative_to(STATIC)) in CATALOGUE_SCRIPTS:
            continue
        text = path.read_text(encoding="utf-8")
        ids = re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', text) if path.suffix == ".html" else []
        if path.suffix == ".js":
            ids += [s for _, s in literals(text)
                    if re.fullmatch(r"[a-z][a-z-]*\.[A-Za-z0-9_.]+", s) and s.split(".")[0] in prefixes
                    and not s.endswith((".js", ".css", ".html", ".csv", "."))]
        for i in ids:
            used.setdefault(i, path.name)
    assert len(used) > 300
    for lang in LANGUAGES:
        missing = {i: where for i, where in used.items() if i not in catalogue(lang)}
        assert not missing, f"{lang} lacks {missing}"
    # Each page's data-i18n marks an element of the page: a page's HTML names no id the catalogues lack.
    html_ids = {i for p in STATIC.glob("*.html")
                for i in re.findall(r'data-i18n="([^"]*)"', p.read_text(encoding="utf-8"))}
    assert "" not in html_ids, "a data-i18n without a message id"


def test_no_chinese_is_left_in_the_scripts_outside_the_catalogues() -> None:
    found = []
    for path in scripts():
        name = str(path.relative_to(STATIC))
        if name in CATALOGUE_SCRIPTS:
            continue
        for line, text in literals(path.read_text(encoding="utf-8")):
            if CJK.search(text) and (name, text) not in ALLOWED:
                found.append(f"{name}:{line}: {text[:60]}")
    assert not found, "Chinese outside the catalogues:\n" + "\n".join(found)


def test_no_script_passes_a_pair_of_texts_instead_of_a_message_id() -> None:
    """A [zh, en] pair handed to t() shows nothing: the words belong in the catalogues, by id."""
    pair = re.compile(r"\b(?:t|say)\(\s*\[")
    found = [f"{path.relative_to(STATIC)}:{n}" for path in scripts()
             if str(path.relative_to(STATIC)) not in CATALOGUE_SCRIPTS
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pair.search(line)]
    assert not found, "pairs of texts where a message id belongs:\n" + "\n".join(found)


def test_every_refusal_the_server_gives_has_a_message_in_every_language() -> None:
    """A page shows a refusal from its code (errorText): each code the server's errors carry has its words."""
    root = STATIC.parent.parent
    codes = {code for folder in ("community", "crowdfund", "orders", "stream", "inventory", "infra", "linli")
             for path in (root / folder).rglob("*.py")
             for code in re.findall(r'\bcode\s*=\s*"([a-z_]+)"', path.read_text(encoding="utf-8"))}
    assert {"forbidden", "unknown_bag", "not_for_role"} <= codes
    for lang in LANGUAGES:
        missing = sorted(c for c in codes - SILENT_CODES if f"error.{c}" not in catalogue(lang))
        assert not missing, f"{lang} has no words for the refusals {missing}"


def test_the_literal_reader_skips_comments_and_regexes_and_reads_templates() -> None:
    src = '// 注释 "x"\nconst a = /"[0-9]+"/; /* 块 */ const b = `${c("甲")}乙` + \'丙\';\n'
    assert literals(src) == [(2, "甲"), (2, "${}乙"), (2, "丙")]
