"""The HTTP layer: thin routers over the service layer, errors mapped in one place."""
