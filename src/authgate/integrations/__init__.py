"""Framework integrations: Starlette (RequireAuth) and FastAPI (dependencies)."""
