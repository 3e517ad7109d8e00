"""tap-aphex: a Singer tap for Aphex Planner's task events and published plans."""
