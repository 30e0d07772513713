"""Domain operations shared by blueprints, webhooks and CLI commands.

Plain functions that take the SQLAlchemy session and flush; the caller commits once.
"""
