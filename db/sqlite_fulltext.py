"""A user's search words as an FTS5 MATCH expression in which every character is plain text.

Each word becomes a quoted FTS5 string, so `OR`, `NEAR(...)`, `*`, `-`, quotes and SQL are only
words. Words are what the `unicode61` tokenizer would index (letters and digits); English stop
words are dropped as PostgreSQL's `plainto_tsquery('english', ...)` does, so both backends find
the same calls for the same words.
"""

from __future__ import annotations

import re

# PostgreSQL's tsearch_data/english.stop (the Snowball list), so `foo OR bar` means foo AND bar
# on both backends.
_ENGLISH_STOP_WORDS_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now
"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[^\W_]+")


def search_words(query: str) -> list[str]:
    """The query's searchable words, lower-cased, stop words removed, first occurrence order."""
    words: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in ENGLISH_STOP_WORDS and word not in words:
            words.append(word)
    return words


def fts_match_expression(query: str) -> str | None:
    """`"w1" "w2"` (all words must occur), or None when the query has no searchable word."""
    words = search_words(query)
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)
