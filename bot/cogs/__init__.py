"""One cog per feature: asking, and browsing sources."""
