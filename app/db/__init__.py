"""Persistence: SQLAlchemy tables (``models``) and the one repository module (``repository``)."""
