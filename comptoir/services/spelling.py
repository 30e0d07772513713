"""Search that forgives: the catalogue word a misspelt search word was meant to be.

`did_you_mean` turns `bool` into `bol`, `lavnde` into `lavande`, `ceramqiue` into `céramique`,
and offers the corrected query only when it finds products under the shopper's other filters.
It runs only after the full-text search (comptoir.services.search) found nothing, so the hot
path pays nothing for it.

A search word needs correcting when the full-text index (prefix match, stemmed or as typed,
names, descriptions and category names) knows no word it starts. Its correction is the most
similar word of the names shoppers can see (visible products and active categories, never a
hidden product's name), compared without accents or case:

- *similarity* is pg_trgm's: the words' sets of trigrams (a word is padded `"  bol "`), shared
  over all, 0 … 1. A word is a candidate from MIN_SIMILARITY (0.3, pg_trgm's own default).
- Trigrams are weak on short words (`vaze`/`vase` share only two of eight), so a word one
  edit away (a letter added, dropped, changed, or two neighbours swapped: Damerau) is a
  candidate too, from four letters, and ranks first: that is most typing slips. It must still
  hold MIN_SIMILARITY of the typed word's trigrams (pg_trgm's word similarity of one word),
  as PostgreSQL could not find it otherwise: both databases then suggest the same words.
- Ties go to the word more names use, then the shorter.

Where the candidates come from depends on the database, the choice does not:

- PostgreSQL: pg_trgm (migration 0016_search_trigram). GIN trigram indexes on the unaccented
  product and category names (`comptoir_unaccent(name)`) answer `term <% name` (word
  similarity at least a threshold, set for the transaction) and the best names come back in
  word-similarity order; their words are then scored here. First with a threshold of 0.5 (a
  slip in a word of four letters or more: `bool`, `lavnde`, `ceramqiue` all reach it), which
  keeps the matching names few; only if none of their words will do, again with 0.3: a word
  with a similarity ≥ 0.3 always has a word similarity ≥ 0.3 with its name, so that pass
  loses no candidate (`vaze` → `vase`). On 10,000 products with the demo's names, a
  correction costs 10–60 ms; it runs only for searches that found nothing, and its answer is
  cached with the page (comptoir.page_cache, CDN).
- SQLite (the demo shop): every distinct word of the visible names, read once per catalogue
  stamp and process (comptoir.fragment_cache), scored in Python. An artisan shop has a few
  thousand such words at most. Not FTS5's `trigram` tokenizer: it matches substrings, not
  similar words, and pads nothing, so `bool` and `bol` would share no trigram at all.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from comptoir.fragment_cache import fragment_cache
from comptoir.services.browse import ProductFilters, catalog_stamp, find_products, visible
from comptoir.services.search import MAX_QUERY_CHARS, STOP_WORDS, apply_search
from models import Category, Product

MIN_SIMILARITY = 0.3  # pg_trgm's default similarity_threshold
CANDIDATE_WORD_SIMILARITY = (0.5, 0.3)  # PostgreSQL: `term <% name`, two passes (see above)
MAX_CANDIDATE_NAMES = 100  # PostgreSQL: the names whose words are scored, per search word
MIN_TERM_CHARS = 3  # shorter words are prefixes still being typed: never corrected
MIN_EDIT_CHARS = 4  # a word this long is corrected to a word one edit away
MAX_CORRECTED_TERMS = 4  # bounds the work a long query of nonsense words can cause

_WORD = re.compile(r"[^\W_]+")
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})

# pg_trgm's `<%` reads its threshold from a setting: set it for this transaction only.
_PG_THRESHOLD = text("SELECT set_config('pg_trgm.word_similarity_threshold', :value, true)")
# Names of visible products, then of active categories, resembling the word. Both WHERE clauses
# use the GIN trigram indexes of migration 0016; the ORDER BY reads only the rows they found.
_PG_CANDIDATES = text(
    """
    SELECT name FROM (
        SELECT p.name, word_similarity(CAST(:term AS text), comptoir_unaccent(p.name)) AS score
        FROM products p LEFT JOIN categories c ON c.id = p.category_id
        WHERE CAST(:term AS text) <% comptoir_unaccent(p.name)
          AND p.is_active AND (p.category_id IS NULL OR c.is_active)
        ORDER BY score DESC, p.id
        LIMIT :limit
    ) AS similar_products
    UNION ALL
    SELECT c.name FROM categories c
    WHERE c.is_active AND CAST(:term AS text) <% comptoir_unaccent(c.name)
    """
)


def fold(word: str) -> str:
    """`Céramique` → `ceramique`, `Œuvre` → `oeuvre`: what two words are compared as."""
    decomposed = unicodedata.normalize("NFKD", word.casefold().translate(_LIGATURES))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=4096)
def trigrams(word: str) -> frozenset[str]:
    """pg_trgm's trigrams of one folded word: `bol` → `{"  b", " bo", "bol", "ol "}`."""
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: str, b: str) -> float:
    """pg_trgm's `similarity` of two folded words: shared trigrams over all of them."""
    ta, tb = trigrams(a), trigrams(b)
    shared = len(ta & tb)
    return shared / (len(ta) + len(tb) - shared)


def coverage(term: str, word: str) -> float:
    """The share of `term`'s trigrams found in `word` (pg_trgm's `word_similarity` when `word`
    is a single word)."""
    shared = trigrams(term) & trigrams(word)
    return len(shared) / len(trigrams(term))


def one_edit_apart(a: str, b: str) -> bool:
    """True when one letter added, dropped or changed, or two neighbours swapped, turn a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(short, long_, strict=False)) if x != y), len(short))
    return short[i:] == long_[i + 1 :]


@dataclass(frozen=True)
class Word:
    """A word of the visible names: as written (lower-case, accents kept) and how many use it."""

    display: str
    uses: int


def name_words(name: str) -> list[str]:
    """The words of a name, lower-case, accents kept: `Bol « Lune »` → `["bol", "lune"]`."""
    return _WORD.findall(unicodedata.normalize("NFC", name or "").casefold())


def words_of(names: Iterable[str]) -> dict[str, Word]:
    """{folded word: Word} over `names`; stop words, numbers and one- or two-letter words left
    out (no one means them). A word written two ways keeps the more frequent spelling."""
    spellings: dict[str, Counter] = {}
    for name in names:
        for word in name_words(name):
            folded = fold(word)
            if len(folded) < MIN_TERM_CHARS or word in STOP_WORDS or not folded.isalpha():
                continue
            spellings.setdefault(folded, Counter())[word] += 1
    return {
        folded: Word(counts.most_common(1)[0][0], sum(counts.values()))
        for folded, counts in spellings.items()
    }


def closest_word(term: str, vocabulary: dict[str, Word]) -> str | None:
    """The word of `vocabulary` `term` was most likely meant to be (as written), or None."""
    folded = fold(term)
    best, best_key = None, None
    for candidate, word in vocabulary.items():
        if candidate == folded:
            continue
        one_edit = (
            len(folded) >= MIN_EDIT_CHARS
            and one_edit_apart(folded, candidate)
            and coverage(folded, candidate) >= MIN_SIMILARITY
        )
        score = similarity(folded, candidate)
        if score < MIN_SIMILARITY and not one_edit:
            continue
        key = (one_edit, score, word.uses, -len(candidate), candidate)
        if best_key is None or key > best_key:
            best, best_key = word.display, key
    return best


def corrections(session: Session, terms: list[str]) -> dict[str, str]:
    """{search word: catalogue word} for the words (from `search_terms`) the index knows
    nothing of and a visible name has a close enough word for. Empty when nothing to correct."""
    found: dict[str, str] = {}
    tried = 0
    for term in terms:
        if len(term) < MIN_TERM_CHARS or not term.isalpha() or _known(session, term):
            continue
        tried += 1
        if tried > MAX_CORRECTED_TERMS:
            break
        word = _closest_catalogue_word(session, term)
        if word is not None and word != term:
            found[term] = word
    return found


def rewrite(q: str, replacements: dict[str, str]) -> str:
    """`q` with each replaced word swapped for its correction, the rest as the shopper typed it."""

    def swap(match: re.Match) -> str:
        word = match.group()
        return replacements.get(unicodedata.normalize("NFC", word).casefold(), word)

    return " ".join(_WORD.sub(swap, q).split())[:MAX_QUERY_CHARS]


def did_you_mean(session: Session, filters: ProductFilters) -> str | None:
    """A query like `filters.q` with its misspelt words corrected, when it finds products under
    the same filters (category, prices, stock); else None. For a search that found nothing."""
    terms = filters.terms
    if not terms:
        return None
    replacements = corrections(session, terms)
    if not replacements:
        return None
    corrected = rewrite(filters.q, replacements)
    if corrected == filters.q:
        return None
    page = find_products(session, dataclasses.replace(filters, q=corrected), 1, 1)
    return corrected if page.total else None


def _known(session: Session, term: str) -> bool:
    """True when a visible product's name, description or category starts a word with `term`."""
    stmt, _relevance = apply_search(session, visible(select(Product.id)), [term])
    return session.execute(stmt.limit(1)).first() is not None


def _closest_catalogue_word(session: Session, term: str) -> str | None:
    """`closest_word` among the visible names' words (see the module docstring for where they
    come from on each database)."""
    folded = fold(term)
    if session.get_bind().dialect.name != "postgresql":
        vocabulary = fragment_cache().get_or_set(
            ("search-vocabulary", catalog_stamp(session)), lambda: _all_visible_words(session)
        )
        return closest_word(folded, vocabulary)
    for threshold in CANDIDATE_WORD_SIMILARITY:
        session.execute(_PG_THRESHOLD, {"value": str(threshold)})
        names = session.scalars(
            _PG_CANDIDATES, {"term": folded, "limit": MAX_CANDIDATE_NAMES}
        ).all()
        word = closest_word(folded, words_of(names))
        if word is not None:
            return word
    return None


def _all_visible_words(session: Session) -> dict[str, Word]:
    products = session.scalars(visible(select(Product.name)))
    categories = session.scalars(select(Category.name).where(Category.is_active.is_(True)))
    return words_of([*products, *categories])
