"""`source-aphex`: the same tap behind the Airbyte protocol (spec, check, discover, read).

One implementation of the streams, two protocols: `read` runs `TapAphex` itself and translates the
Singer messages it writes (through the SDK's message-writer seam) into Airbyte messages.
"""
