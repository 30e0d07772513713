"""French typography for text the shop writes around names: no-break spaces, quotation marks.

French puts a space inside « » and before : ; ! ? — and a line must never break there, or a
phone shows « Mistral on one line and » on the next. Translations carry the right characters
already (U+00A0 NO-BREAK SPACE inside « » and before :, U+202F NARROW NO-BREAK SPACE before
; ! ?, the Imprimerie nationale's usage); what they cannot fix is text typed by staff (product
names, `Vase « Mistral »`) and messages built from it. Two tools:

- `typo`, a Jinja filter: escapes its input first (so it is safe on anything), then, for the
  French locale only, turns the ordinary spaces at those places into the right no-break space.
  It returns Markup. English text is only escaped: English puts no space there.
- `quote_name`, for messages that name something: the name in the reader's quotation marks
  (“…” in English, « … » in French), unless the name carries quotation marks of its own — then
  it is used bare, so `Vase « Mistral »` never becomes « Vase « Mistral » ».
"""

from __future__ import annotations

import re

from flask import has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

NBSP = "\u00a0"  # inside « » and before :
NNBSP = "\u202f"  # before ; ! ?
# Ordinary spaces and tabs only: a line break typed on purpose is kept.
_AFTER_OPENING = re.compile(r"«[ \t]+")
_BEFORE_CLOSING = re.compile(r"[ \t]+»")
_BEFORE_COLON = re.compile(r"[ \t]+:")
_BEFORE_HIGH = re.compile(r"[ \t]+([;!?])")
_QUOTE_MARKS = frozenset('«»“”"')


def french_spacing(text: str) -> str:
    """`text` with the spaces French typography binds made unbreakable (plain text in, out).

    Only spaces already there are replaced: none is added, so `10:30`, `https://` and `&amp;`
    (no space before the `;` of an entity) are left alone.
    """
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    text = _BEFORE_CLOSING.sub(NBSP + "»", text)
    text = _BEFORE_COLON.sub(NBSP + ":", text)
    return _BEFORE_HIGH.sub(NNBSP + r"\1", text)


def is_french() -> bool:
    """True when the current request is rendered in French."""
    return has_request_context() and str(get_locale() or "").split("_")[0] == "fr"


def typo(value: object) -> Markup:
    """The Jinja filter `typo`: `value` escaped, with French no-break spaces in French.

    Markup passed in is trusted as it is (not escaped twice); its spaces are treated the same
    way, which is harmless inside tags (an attribute's ` :` gets a no-break space too).
    """
    if value is None:
        return Markup("")
    escaped = escape(value)
    if not is_french():
        return escaped
    return Markup(french_spacing(str(escaped)))  # noqa: S704 (escaped just above)


def quote_name(name: object) -> str:
    """`name` between the reader's quotation marks, for a message (“Bol” / « Bol »).

    A name that already holds quotation marks (`Vase « Mistral »`, `“Le” bol`) is returned as
    it is: quoting it again would double them.
    """
    text = str(name if name is not None else "")
    if _QUOTE_MARKS.intersection(text):
        return text
    return _("“%(name)s”", name=text)
