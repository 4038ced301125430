"""Request and response models of the API (separate from the database tables)."""
