"""Jinja2 templates of the reports, installed as `cyberscan.report_templates`."""
