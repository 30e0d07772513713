"""French is the shop's language: every UI string is translated, the compiled catalogue is the one
the .po describes, and a visitor gets French unless their browser or their choice says English.

The catalogue checks run Babel's own extraction over the source (same babel.cfg and keywords as
`make translations`), so a string added without its translation fails here with its msgid.
Refresh with `make translations`, translate the empty msgstr, run `make translations` again.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from comptoir.config import PROJECT_ROOT, Config, ProductionConfig
from tests.builders import add_product

TRANSLATIONS = PROJECT_ROOT / "comptoir" / "translations"
PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.mo"
# The keywords `make translations` passes to pybabel extract, on top of Babel's defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
REFRESH = "run `make translations`, fill in the French msgstr, then `make translations` again"

# A %-format placeholder: %(name)s, %(count)d, %s, %%.
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
HTML_TAG = re.compile(r"<[^>]+>")
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


# --- the catalogue ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_messages() -> dict[tuple[str | None, str], set[str]]:
    """Every (context, msgid) in the source today, with the files it comes from."""
    with open(PROJECT_ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[tuple[str | None, str], set[str]] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid:
            found.setdefault((context, msgid), set()).add(filename)
    return found


@pytest.fixture(scope="module")
def catalog():
    if not PO.exists():
        pytest.fail(f"{PO.relative_to(PROJECT_ROOT)} is missing: {REFRESH}")
    with open(PO, "rb") as fh:
        return read_po(fh, locale="fr")


def _forms(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (tuple, list)) else [message.string]


def test_extraction_reads_python_html_templates_and_plain_text_emails(source_messages):
    extensions = {Path(name).suffix for files in source_messages.values() for name in files}
    assert {".py", ".html", ".txt"} <= extensions, extensions
    assert not any(
        name.startswith(("tests/", "bench/", "migrations/", ".venv/"))
        for files in source_messages.values()
        for name in files
    )


def test_every_ui_string_has_a_french_translation(source_messages, catalog):
    missing = []
    for (context, msgid), files in sorted(source_messages.items(), key=lambda kv: str(kv[0])):
        message = catalog.get(msgid, context)
        if message is None or not all(form.strip() for form in _forms(message)):
            missing.append(f"{msgid!r} ({', '.join(sorted(files))})")
    assert not missing, f"{len(missing)} untranslated ({REFRESH}):\n" + "\n".join(missing)


def test_no_translation_is_fuzzy(catalog):
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy translations are not used by the shop, check them: {fuzzy}"


def test_french_plural_rule_treats_zero_and_one_as_singular(catalog):
    assert catalog.plural_forms == "nplurals=2; plural=(n > 1);"
    french = Translations.load(str(TRANSLATIONS), ["fr"])
    assert french.ngettext("%(num)d product", "%(num)d products", 0) == "%(num)d produit"
    assert french.ngettext("%(num)d product", "%(num)d products", 1) == "%(num)d produit"
    assert french.ngettext("%(num)d product", "%(num)d products", 2) == "%(num)d produits"


def test_compiled_catalogue_matches_the_po_file(catalog):
    """The .mo is what the app loads (Procfile hosts run no build step): it must not be stale."""

    def entries(cat) -> dict:
        return {
            (m.context, m.id if isinstance(m.id, str) else tuple(m.id)): (
                m.string if isinstance(m.string, str) else tuple(m.string)
            )
            for m in cat
            if m.id
        }

    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # exactly what `pybabel compile` writes (fuzzy and empty left out)
    compiled.seek(0)
    with open(MO, "rb") as fh:
        on_disk = read_mo(fh)
    expected, actual = entries(read_mo(compiled)), entries(on_disk)
    stale = sorted(str(key) for key in expected.keys() ^ actual.keys())
    changed = sorted(
        str(key) for key in expected.keys() & actual.keys() if expected[key] != actual[key]
    )
    assert not stale and not changed, (
        f"messages.mo is out of date with messages.po ({REFRESH}); "
        f"added/removed: {stale[:20]}, changed: {changed[:20]}"
    )
    assert on_disk.plural_forms == catalog.plural_forms


def test_translations_keep_the_placeholders_and_markup_of_their_msgid(catalog):
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        tags = sorted(HTML_TAG.findall(ids[-1]))
        for form in _forms(message):
            if not form:
                continue
            if sorted(PLACEHOLDER.findall(form)) != wanted:
                problems.append(f"placeholders differ: {ids[-1]!r} → {form!r}")
            # A lone % crashes `%` formatting (templates always format): it must be written %%.
            if "%" in PLACEHOLDER.sub("", form):
                problems.append(f"stray % (write %%): {form!r}")
            if sorted(HTML_TAG.findall(form)) != tags:
                problems.append(f"HTML differs: {ids[-1]!r} → {form!r}")
    assert not problems, "\n".join(problems)


def test_french_typography_uses_non_breaking_spaces(catalog):
    """French punctuation: U+00A0 before « : » and inside « », U+202F before « ; ! ? », so the
    sign never wraps alone onto the next line."""
    # A time's colon (09:00) is no punctuation.
    rule = re.compile(r"(?<![\u00a0\d]):|(?<=\d):(?!\d)|(?<!\u00a0)»|«(?!\u00a0)|(?<!\u202f)[;!?]")
    problems = [
        form for message in catalog if message.id for form in _forms(message) if rule.search(form)
    ]
    assert not problems, problems


# --- French by default, English on request -------------------------------------------------------


@pytest.fixture
def app_overrides() -> dict:
    """The shop's real language settings (the test configuration puts English first)."""
    return {"LANGUAGES": Config.LANGUAGES, "BABEL_DEFAULT_LOCALE": Config.BABEL_DEFAULT_LOCALE}


def test_the_shop_is_configured_french_first():
    assert Config.LANGUAGES[0] == ProductionConfig.LANGUAGES[0] == "fr"
    assert Config.BABEL_DEFAULT_LOCALE == ProductionConfig.BABEL_DEFAULT_LOCALE == "fr"


def _page(client, url: str, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True).translate(SPACES)


def test_a_visitor_without_language_preference_gets_french(client):
    html = _page(client, "/")
    assert '<html lang="fr">' in html
    assert "Aller au contenu" in html and "Se connecter" in html and "Tous les produits" in html
    assert "Skip to content" not in html and "Log in" not in html


def test_an_english_browser_gets_english(client):
    html = _page(client, "/", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in html
    assert "Skip to content" in html and "Log in" in html
    assert "Se connecter" not in html


def test_the_language_switch_is_remembered_and_wins_over_the_browser(client):
    response = client.get("/lang/en?next=/products", headers={"Accept-Language": "fr"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/products")
    assert any(c.startswith("lang=en;") for c in response.headers.getlist("Set-Cookie"))

    html = _page(client, "/products", **{"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="en">' in html and "All products" in html

    client.get("/lang/fr?next=/products")
    html = _page(client, "/products", **{"Accept-Language": "en"})
    assert '<html lang="fr">' in html and "Tous les produits" in html


def test_product_page_speaks_and_formats_prices_in_the_visitor_language(app, client):
    add_product(app, "Bol en grès", stock=2)
    add_product(app, "Vase bleu", price_cents=4550, stock=0)
    few_slug, gone_slug = "bol-en-gres", "vase-bleu"

    french = _page(client, f"/products/{few_slug}")
    assert "28,00 €" in french and "TTC" in french
    assert "Ajouter au panier" in french and "Plus que 2 en stock" in french
    assert "Add to cart" not in french and "€28.00" not in french
    assert "Épuisé" in _page(client, f"/products/{gone_slug}")

    english = _page(client, f"/products/{few_slug}", **{"Accept-Language": "en"})
    assert "€28.00" in english and "VAT incl." in english
    assert "Add to cart" in english and "Only 2 left" in english
    assert "28,00 €" not in english


def test_plural_counts_follow_french_rules(app, client):
    assert "0 produit" in _page(client, "/products")  # French: 0 is singular
    assert "0 products" in _page(client, "/products", **{"Accept-Language": "en"})


def test_login_required_message_is_translated(client):
    response = client.get("/account/", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Veuillez vous connecter pour accéder à cette page." in html
    assert "Mot de passe oublié\u202f?" in html  # narrow no-break space, never a wrapping one

    client.get("/lang/en?next=/")
    html = client.get("/account/", follow_redirects=True).get_data(as_text=True)
    assert "Please log in to access this page." in html and "Forgot your password?" in html
