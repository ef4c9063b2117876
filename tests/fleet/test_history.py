"""The history database: schema migration v1 → current, transactions, first-seen dates, integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cyberscan.fleet.history import MIGRATIONS, SCHEMA_VERSION, History, migrate

from .test_changes import report


def test_migration_from_v1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO runs VALUES (1, 'inv', 'x', '2024-05-02T01:00:00+00:00', NULL, 'complete')")
    conn.execute(
        "INSERT INTO findings VALUES "
        "(1, '45001', 'WEB-HSTS', 'a.test', 'https://a.test/', 'fail', 'medium', 0)"
    )
    conn.close()
    with History(path) as history:
        assert history.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        row = history.conn.execute("SELECT check_id, first_seen FROM findings").fetchone()
        assert row == ("WEB-HSTS", "2024-05-02")
        assert history.conn.execute("SELECT COUNT(*) FROM facts").fetchone()[0] == 0
        assert history.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert history.integrity() == "ok"


def test_runs_resume_and_first_seen(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        run1, resumed = history.open_run("/inv.toml", "f1")
        assert not resumed
        history.record_commune(
            run1, "45001", "Alpha", "t", report("2025-01-01", ("A-1", "r", "fail", "high")), {"f": 1}
        )
        history.finish_run(run1, complete=False)
        # Same inventory, unfinished: resumed with its completed commune; --new or a changed file: not.
        assert history.open_run("/inv.toml", "f1") == (run1, True)
        assert history.done_communes(run1) == {"45001"}
        history.finish_run(run1, complete=True)
        run2, resumed = history.open_run("/inv.toml", "f1")
        assert run2 != run1 and not resumed
        history.record_commune(
            run2,
            "45001",
            "Alpha",
            "t",
            report("2025-02-01", ("A-1", "r", "fail", "high"), ("A-2", "r", "warn", "low"), score=70.0),
        )
        assert history.first_seen("45001", run2) == {
            ("A-1", "alpha.test", "r"): "2025-01-01",
            ("A-2", "alpha.test", "r"): "2025-02-01",
        }
        assert [p.score for p in history.scores("45001")] == [80.0, 70.0]
        assert history.facts(run1, "45001") == {"f": 1} and history.facts(run2, "45001") is None
        history.finish_run(run2, complete=False)
        _run3, resumed = history.open_run("/inv.toml", "f2")
        assert not resumed and history.runs()[1].status == "abandoned"
        assert history.integrity() == "ok"
