"""Models, immutable versions, aliases, and the content-addressed artifact store."""
