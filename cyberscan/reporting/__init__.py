"""Reports: canonical JSON (with its schema), the terminal summary, and HTML rendered from the JSON."""
