"""The words of an email and of a search, normalised so that "Zażółć", "ZAZOLC" and "zazolc" are
one word (issue 14 item 3). Pure: text in, terms out; hashing them (the blind index) is
services.crm.search_index's job.

A word is a run of letters and digits after case folding, NFKD decomposition with the combining
marks dropped, and a few letters NFKD leaves whole mapped by hand (ł, ø, đ, æ, œ, þ …; ß becomes ss
by case folding). Prefix typing without plaintext: a word of 4 letters or more also gives its first
4 letters as a term of its own; a longer word being typed is looked up by those 4 letters and the
hits checked against the decrypted text (services.crm.search). bench/search.py measured the
alternatives (docs/security.md, "Search index"): prefixes of 3 to 6 letters cost 3.4 times the rows
of whole words alone, one 4-letter prefix 1.75 times."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_WORD = 40  # letters kept of a word: longer runs are cut (German compounds stay findable by prefix)
MAX_TERMS = 2000  # distinct terms per email; a 10 MB body costs what a long letter costs
MAX_QUERY_WORDS = 8
PREFIX_LETTERS = 4
WORD = "w"  # a whole word
PREFIX = "p"  # a word's first PREFIX_LETTERS letters

# Letters without a canonical decomposition, after case folding.
_LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t"}
)
_WORDS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    kind: str  # WORD | PREFIX
    text: str


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def normalise(value: str | bytes) -> str:
    """Case-, accent- and compatibility-folded text (the same length or longer; not for display)."""
    folded = unicodedata.normalize("NFKD", _text(value).casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)).translate(_LETTERS)


def words(value: str | bytes) -> list[str]:
    """The normalised words in order of appearance, repeats included, 1-letter words dropped."""
    return [w[:MAX_WORD] for w in _WORDS.findall(normalise(value)) if len(w) > 1]


def word_terms(word: str) -> list[Term]:
    """What one word puts in the index."""
    terms = [Term(WORD, word)]
    if len(word) >= PREFIX_LETTERS:
        terms.append(Term(PREFIX, word[:PREFIX_LETTERS]))
    return terms


def index_terms(*texts: str | bytes) -> list[Term]:
    """The distinct terms of an email's subject and body, at most MAX_TERMS (first come first)."""
    seen: dict[Term, None] = {}
    for text in texts:
        for word in dict.fromkeys(words(text)):
            for term in word_terms(word):
                seen.setdefault(term, None)
                if len(seen) >= MAX_TERMS:
                    return list(seen)
    return list(seen)


@dataclass(frozen=True)
class QueryWord:
    word: str
    term: Term  # the exact lookup
    # The last word, longer than PREFIX_LETTERS, may still be being typed: its first letters find
    # more candidates, each checked against the decrypted text before it is shown.
    broad: Term | None = None


def query_words(query: str | bytes) -> list[QueryWord]:
    """The lookups for a search typed so far: every word must match (AND); the last one may be
    incomplete, so it also matches as a prefix. Empty: nothing to look up (punctuation, 1 letter)."""
    found = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    out: list[QueryWord] = []
    for index, word in enumerate(found):
        last = index == len(found) - 1
        if last and len(word) == PREFIX_LETTERS:
            out.append(QueryWord(word, Term(PREFIX, word)))
        elif last and len(word) > PREFIX_LETTERS:
            out.append(QueryWord(word, Term(WORD, word), Term(PREFIX, word[:PREFIX_LETTERS])))
        else:
            out.append(QueryWord(word, Term(WORD, word)))
    return out


def has_prefix(text_words: set[str], prefix: str) -> bool:
    """Whether a word of the text starts with `prefix` (the check of a broad prefix lookup)."""
    return any(w.startswith(prefix) for w in text_words)


def _one_letter_folds() -> tuple[str, str]:
    """Latin letters whose fold is one ASCII letter ("Ż" → "z", "é" → "e", "ł" → "l"): a table both
    databases can apply to names in SQL (PostgreSQL's translate() maps one character to one)."""
    source, target = [], []
    for code in range(0xC0, 0x250):
        letter = chr(code)
        folded = normalise(letter)
        if len(folded) == 1 and folded.isascii() and folded.isalpha() and folded != letter.lower():
            source.append(letter)
            target.append(folded)
    return "".join(source), "".join(target)


NAME_FOLD_FROM, NAME_FOLD_TO = _one_letter_folds()
_NAME_FOLDS = str.maketrans(NAME_FOLD_FROM, NAME_FOLD_TO)


def fold_name(value: str) -> str:
    """A name or a typed query for matching names in SQL: accents off, lower case. The same as SQL's
    `lower(translate(name, NAME_FOLD_FROM, NAME_FOLD_TO))`; letters that fold to two (ß, æ, œ) stay."""
    return value.translate(_NAME_FOLDS).lower()
