"""Comptoir: the application factory, configuration, extensions and domain services."""

from comptoir.factory import create_app

__all__ = ["create_app"]
