"""The shop's calendar: a "day" is a day in SHOP_TIMEZONE (Europe/Paris by default).

Timestamps are stored and handled in UTC everywhere (models.base.UTCDateTime). Only calendar
questions — "today's sales", a day on the sales chart, an orders filter by date — need the shop's
zone: an order paid at 00:30 in Paris belongs to that Paris day, not to the UTC day before.

The database answers them too (the `sales_stats` view groups by day), so every connection the
shop opens learns the zone (`install`):
- PostgreSQL: the session's `TimeZone` is set to the shop's zone, and the view takes
  `CAST(paid_at AS DATE)`, which PostgreSQL computes in that zone (DST included). A connection
  without the setting (psql, or a transaction-mode pooler that drops session settings) gets the
  server's zone, usually UTC.
- SQLite: a SQL function `comptoir_shop_date(paid_at)` computes the same day in Python.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app
from sqlalchemy import event

DEFAULT_ZONE = "Europe/Paris"


@lru_cache(maxsize=16)
def zone_named(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError with a message a deployer can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"SHOP_TIMEZONE={name!r} is not a time zone name; use an IANA name such as "
            "Europe/Paris or Europe/Brussels."
        ) from None


def shop_zone(app: Flask | None = None) -> ZoneInfo:
    config = (app or current_app).config
    return zone_named(config.get("SHOP_TIMEZONE") or DEFAULT_ZONE)


def shop_today(now: datetime | None = None) -> date:
    """The shop's current date (`now`, an aware datetime, for tests)."""
    return (now or datetime.now(UTC)).astimezone(shop_zone()).date()


def start_of_day_utc(day: date, zone: tzinfo | None = None) -> datetime:
    """The UTC instant at which `day` begins in `zone` (default: the shop's)."""
    return datetime.combine(day, time.min, tzinfo=zone or shop_zone()).astimezone(UTC)


def install(app: Flask, engine) -> None:
    """Teach every new connection of `engine` the shop's zone (see the module docstring)."""
    zone = shop_zone(app)

    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def set_time_zone(dbapi_connection, _record) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT set_config('TimeZone', %s, false)", (zone.key,))
            dbapi_connection.commit()  # a session setting made in a rolled-back transaction is undone

    elif engine.dialect.name == "sqlite":

        def shop_date(value):
            # SQLite keeps UTCDateTime as naive UTC text: 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
            if value is None:
                return None
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(zone).date().isoformat()

        @event.listens_for(engine, "connect")
        def add_function(dbapi_connection, _record) -> None:
            dbapi_connection.create_function("comptoir_shop_date", 1, shop_date, deterministic=True)
