"""Shopper-facing blueprints: one module per concern, each exposing `bp`."""
