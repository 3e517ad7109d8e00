from tap_aphex.cli import tap_aphex

tap_aphex()
