"""REST API (FastAPI) under /api/v1: routers, auth dependency, error mapping."""
