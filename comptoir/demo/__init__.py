"""The demo shop: a French artisan catalogue with photos drawn by Pillow, and a demo admin.

Only `flask --app wsgi seed-demo` (and `make run`, the bench and the tests) use it; nothing of the
running shop imports it.
"""
