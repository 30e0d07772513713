"""Forms of the account pages (Flask-WTF: CSRF-checked). Business rules live in
comptoir.services.accounts; these only check presence, length and confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from comptoir.services.passwords import MAX_PASSWORD_LENGTH

_REQUIRED = _l("This field is required.")
_MISMATCH = _l("The two passwords do not match.")


def _password(label, *, required: bool = True) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(message=_REQUIRED) if required else Optional(),
            Length(max=MAX_PASSWORD_LENGTH),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_REQUIRED), Length(max=255)])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_REQUIRED), Length(max=MAX_PASSWORD_LENGTH)],
    )
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class RegisterForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_REQUIRED), Length(max=255)])
    full_name = StringField(_l("Full name (optional)"), validators=[Optional(), Length(max=200)])
    password = _password(_l("Password"))
    password_confirm = PasswordField(
        _l("Confirm the password"),
        validators=[DataRequired(message=_REQUIRED), EqualTo("password", message=_MISMATCH)],
    )
    next = HiddenField()


class WelcomeForm(FlaskForm):
    """The welcome link's sign-in button (CSRF only)."""


class PasswordResetRequestForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_REQUIRED), Length(max=255)])


class PasswordResetForm(FlaskForm):
    password = _password(_l("New password"))
    password_confirm = PasswordField(
        _l("Confirm the new password"),
        validators=[DataRequired(message=_REQUIRED), EqualTo("password", message=_MISMATCH)],
    )


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(message=_REQUIRED), Length(max=255)])
    locale = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("Same as my browser")),
            SelectChoice("fr", "Français", render_kw={"lang": "fr"}),
            SelectChoice("en", "English", render_kw={"lang": "en"}),
        ],
        validate_choice=True,
        default="",
    )
    current_password = PasswordField(
        _l("Current password"), validators=[Optional(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    password = _password(_l("New password"), required=False)
    password_confirm = PasswordField(
        _l("Confirm the new password"), validators=[EqualTo("password", message=_MISMATCH)]
    )


class AddressForm(FlaskForm):
    label = StringField(_l("Label (optional, e.g. Home)"), validators=[Optional(), Length(max=80)])
    full_name = StringField(
        _l("Recipient's name"), validators=[DataRequired(message=_REQUIRED), Length(max=200)]
    )
    line1 = StringField(
        _l("Address"), validators=[DataRequired(message=_REQUIRED), Length(max=200)]
    )
    line2 = StringField(_l("Address line 2 (optional)"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(
        _l("Postal code"), validators=[DataRequired(message=_REQUIRED), Length(max=20)]
    )
    city = StringField(_l("City"), validators=[DataRequired(message=_REQUIRED), Length(max=120)])
    # Checked by the address service, whose message says why ("France and the EU only").
    country = SelectField(_l("Country"), default="FR", validate_choice=False)
    phone = StringField(
        _l("Phone (optional, for the carrier)"), validators=[Optional(), Length(max=40)]
    )
    is_default = BooleanField(_l("Use as my default address"))
