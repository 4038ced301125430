"""HTTP layer: routers, dependencies and schemas. Endpoints stay thin and call services."""
