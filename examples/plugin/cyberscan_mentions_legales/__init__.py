"""Example third-party cyberscan plugin."""
