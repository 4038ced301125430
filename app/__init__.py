"""Sync Analyzer: measures and repairs the sync of dub soundtracks against their master."""
