from tap_aphex.startup import tap_aphex

tap_aphex()
