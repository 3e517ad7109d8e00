"""`source-aphex`: the same tap behind the Airbyte protocol (spec, check, discover, read)."""
