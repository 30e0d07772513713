"""Password policy and hashing, shared by registration, profile, reset and the staff CLI.

The policy follows current advice (NIST SP 800-63B): a minimum length, a generous maximum, no
composition rules, and a refusal of passwords everyone tries first. Hashes use Werkzeug's
default scheme (scrypt); older hashes are upgraded at the next successful login.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 10
# Long enough for any passphrase or password manager, short enough that hashing stays cheap.
MAX_PASSWORD_LENGTH = 200

# Passwords of 10+ characters that top the public breach lists (French and English), compared
# case-insensitively. Shorter ones are already refused by the length rule.
COMMON_PASSWORDS = frozenset(
    """
    1234567890 0123456789 0987654321 9876543210 12345678910 123456789a 123456789q
    1234567891 1234512345 1234567899 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx3edc 1q2w3e4r5t6y7u8i
    qwertyuiop qwerty1234 qwerty12345 qwerty123456 qwertyuiop123 asdfghjkl1 asdfghjkl123
    zxcvbnm123 azertyuiop azerty1234 azerty12345 azerty123456 azertyuiop123 aqwzsxedc1
    password12 password123 password1234 password12345 passw0rd123 p@ssw0rd123 password!!
    passwordpassword motdepasse motdepasse1 motdepasse12 motdepasse123 motdepasse1234
    iloveyou12 iloveyou123 jetaime1234 jetaime123456 soleil1234 soleil12345 doudou1234
    chocolat12 chocolat123 marseille13 marseille123 football12 football123 bienvenue1
    bienvenue12 bienvenue123 welcome123 welcome1234 letmein123 changeme123 administrator
    admin12345 admin123456 adminadmin administrateur comptoir123 comptoir1234 boutique123
    princesse1 princesse12 loulou1234 nicolas123 alexandre1 baseball12 superman12 dragon1234
    sunshine12 trustno1234 michael123 charlie123 monkey1234 shadow1234 master1234 abcdefghij
    abcdefghijk abcd123456 abc1234567 a123456789 aaaaaaaaaa qazwsxedcr qazwsxedc123
    11111111111 0000000000 1111111111 2222222222 1212121212 1122334455 1357924680
    """.split()  # noqa: SIM905 (a word list reads better than 100 quoted strings)
)

_SEQUENCES = ("0123456789", "9876543210", "abcdefghijklmnopqrstuvwxyz", "azertyuiop", "qwertyuiop")


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why `password` is not acceptable (a translated sentence), or None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    folded = password.casefold()
    if folded in COMMON_PASSWORDS or _is_trivial(folded):
        return _("This password is too common and easy to guess. Choose another one.")
    if email:
        address = email.casefold()
        local_part = address.split("@", 1)[0]
        if folded in {address, local_part} or (len(local_part) >= 6 and local_part in folded):
            return _("The password must not contain your email address.")
    return None


def _is_trivial(folded: str) -> bool:
    """A single repeated character or a slice of an obvious keyboard/number sequence."""
    if len(set(folded)) <= 2:
        return True
    if any(folded in sequence for sequence in _SEQUENCES):
        return True
    # A short pattern repeated ("abcabcabcabc", "12341234…").
    return re.fullmatch(r"(.{1,4})\1+", folded) is not None


def hash_password(password: str) -> str:
    """A salted scrypt hash (Werkzeug's default: memory-hard, no extra dependency)."""
    return generate_password_hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; False for an empty or unusable hash (never raises)."""
    if not password_hash or not password or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return check_password_hash(password_hash, password)
    except (ValueError, TypeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for hashes made with an older scheme than today's default."""
    return not password_hash.startswith("scrypt:")


_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    """Spend the time a real check would take, so an unknown email answers no faster than a
    wrong password (no account enumeration by timing)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("comptoir-timing-equaliser")
    verify_password(_DUMMY_HASH, password or "x")
