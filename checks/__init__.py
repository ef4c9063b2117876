"""Built-in check families, installed as `cyberscan.checks`: one module and one TOML file per family."""
