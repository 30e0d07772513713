"""Staff blueprints under /admin/: one module per concern, each exposing `bp`."""
