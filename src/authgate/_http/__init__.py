"""The ASGI side: request parsing and checks, cookies, the auth routes. Never talks SQL."""
