from comptoir import create_app

app = create_app()
