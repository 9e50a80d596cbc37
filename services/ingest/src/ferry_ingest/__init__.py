"""Ferry's gateway: accepts uploads, owns file records and originals, serves parsed content."""
