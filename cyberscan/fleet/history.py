"""The fleet's history: one SQLite file (WAL) of runs, per-commune reports, findings and facts."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .changes import OPEN, Identity, findings_of, identity, is_waived

#: schema migrations, in order; `PRAGMA user_version` is the number applied. Never edit one: append.
MIGRATIONS: tuple[str, ...] = (
    # v1: runs, per-commune outcome with the compressed report, findings.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        inventory TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'incomplete', 'abandoned'))
    );
    CREATE TABLE commune_runs (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        insee TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('done', 'error')),
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        grade_letter TEXT,
        score REAL,
        error TEXT,
        report BLOB,
        PRIMARY KEY (run_id, insee)
    );
    CREATE TABLE findings (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        insee TEXT NOT NULL,
        check_id TEXT NOT NULL,
        target TEXT NOT NULL,
        resource TEXT NOT NULL,
        status TEXT NOT NULL,
        severity TEXT NOT NULL,
        waived INTEGER NOT NULL
    );
    CREATE INDEX findings_by_commune ON findings (insee, run_id);
    """,
    # v2: when each open finding was first seen (its age in alerts), and the facts of each commune.
    """
    ALTER TABLE findings ADD COLUMN first_seen TEXT;
    UPDATE findings
        SET first_seen = (SELECT substr(started_at, 1, 10) FROM runs WHERE runs.id = findings.run_id);
    CREATE TABLE facts (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        insee TEXT NOT NULL,
        facts BLOB NOT NULL,
        PRIMARY KEY (run_id, insee)
    );
    """,
    # v3: alert delivery per run: NULL (no [alerts]), 'pending' (owed: set with the run's completion,
    # so a crash before sending cannot lose them), 'sent', 'failed' (retried by the next invocation).
    """
    ALTER TABLE runs ADD COLUMN alerts TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: a stored report larger than this once inflated is refused (a corrupted or hostile database)
MAX_REPORT_BYTES = 200_000_000


class HistoryError(Exception):
    """The database cannot be used (newer schema, corrupted, unwritable); one line."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def pack(data: Any) -> bytes:
    return zlib.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6)


def unpack(blob: bytes) -> Any:
    inflater = zlib.decompressobj()
    raw = inflater.decompress(blob, MAX_REPORT_BYTES)
    if inflater.unconsumed_tail:
        raise HistoryError("a stored report is larger than allowed")
    return json.loads(raw.decode("utf-8"))


@dataclass(frozen=True)
class RunInfo:
    """One fleet run as recorded."""

    id: int
    inventory: str
    started_at: str
    finished_at: str | None
    status: str
    done: int
    errors: int


@dataclass(frozen=True)
class ScorePoint:
    """A commune's grade at one run: the trend chart's points."""

    run_id: int
    date: str
    score: float | None
    letter: str | None


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to `target`, each in its own transaction; returns the version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise HistoryError(f"database schema v{version} is newer than this cyberscan (v{SCHEMA_VERSION})")
    for number in range(version, target):
        # executescript() commits first; the BEGIN/COMMIT pair makes each step all-or-nothing.
        conn.executescript(f"BEGIN;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;")
    return max(version, target)


class History:
    """The history database. Writes happen from one thread (the fleet runner's), one transaction each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # isolation_level=None: transactions are explicit (BEGIN … COMMIT), nothing left half-open.
            self.conn = sqlite3.connect(
                str(path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self.conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a completed commune survives a power cut, not only a killed process.
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{path}: cannot use the history database: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Tx:
        return _Tx(self.conn)

    # -- runs ---------------------------------------------------------------------------------------

    def open_run(self, inventory: str, fingerprint: str, new: bool = False) -> tuple[int, bool]:
        """The run to work on: the unfinished one of this same inventory (resumed), or a new one."""
        with self._transaction():
            row = self.conn.execute(
                "SELECT id, fingerprint FROM runs "
                "WHERE inventory = ? AND status IN ('running', 'incomplete') ORDER BY id DESC LIMIT 1",
                (inventory,),
            ).fetchone()
            if row is not None and not new and row[1] == fingerprint:
                self.conn.execute("UPDATE runs SET status = 'running' WHERE id = ?", (row[0],))
                return int(row[0]), True
            if row is not None:
                # The inventory changed (or --new): what the old run did stays, but it is not resumed.
                self.conn.execute("UPDATE runs SET status = 'abandoned' WHERE id = ?", (row[0],))
            cursor = self.conn.execute(
                "INSERT INTO runs (inventory, fingerprint, started_at, status) VALUES (?, ?, ?, 'running')",
                (inventory, fingerprint, _now()),
            )
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid), False

    def finish_run(self, run_id: int, complete: bool, alerts_owed: bool = False) -> None:
        """Close the run; a complete run of an inventory with [alerts] owes its alerts from now on."""
        with self._transaction():
            self.conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, alerts = ? WHERE id = ?",
                (
                    "complete" if complete else "incomplete",
                    _now(),
                    "pending" if complete and alerts_owed else None,
                    run_id,
                ),
            )

    def owed_alerts(self, inventory: str) -> list[int]:
        """Complete runs of `inventory` whose alerts are still owed (pending or failed), oldest first."""
        rows = self.conn.execute(
            "SELECT id FROM runs WHERE inventory = ? AND status = 'complete' "
            "AND alerts IN ('pending', 'failed') ORDER BY id",
            (inventory,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def set_alerts(self, run_id: int, state: str) -> None:
        with self._transaction():
            self.conn.execute("UPDATE runs SET alerts = ? WHERE id = ?", (state, run_id))

    def run_started(self, run_id: int) -> str:
        row = self.conn.execute("SELECT started_at FROM runs WHERE id = ?", (run_id,)).fetchone()
        return str(row[0]) if row else _now()

    def done_communes(self, run_id: int) -> set[str]:
        rows = self.conn.execute(
            "SELECT insee FROM commune_runs WHERE run_id = ? AND status = 'done'", (run_id,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def runs(self, limit: int = 50) -> list[RunInfo]:
        rows = self.conn.execute(
            "SELECT r.id, r.inventory, r.started_at, r.finished_at, r.status, "
            "SUM(c.status = 'done'), SUM(c.status = 'error') "
            "FROM runs r LEFT JOIN commune_runs c ON c.run_id = r.id "
            "GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [RunInfo(int(r[0]), r[1], r[2], r[3], r[4], int(r[5] or 0), int(r[6] or 0)) for r in rows]

    def latest_run(self) -> int | None:
        """The newest run with at least one completed commune."""
        row = self.conn.execute("SELECT MAX(run_id) FROM commune_runs WHERE status = 'done'").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    # -- communes -----------------------------------------------------------------------------------

    def record_commune(
        self,
        run_id: int,
        insee: str,
        name: str,
        started_at: str,
        report: Mapping[str, Any],
        facts: Any = None,
    ) -> None:
        """Store one completed commune (report, findings, facts) in a single transaction."""
        grade = report.get("grade") if isinstance(report.get("grade"), Mapping) else {}
        assert isinstance(grade, Mapping)
        score = grade.get("score")
        day = str(report.get("started_at", started_at))[:10]
        with self._transaction():
            previous = self._open_since(insee, run_id)
            self.conn.execute("DELETE FROM commune_runs WHERE run_id = ? AND insee = ?", (run_id, insee))
            self.conn.execute("DELETE FROM findings WHERE run_id = ? AND insee = ?", (run_id, insee))
            self.conn.execute("DELETE FROM facts WHERE run_id = ? AND insee = ?", (run_id, insee))
            self.conn.execute(
                "INSERT INTO commune_runs (run_id, insee, name, status, started_at, finished_at, "
                "grade_letter, score, report) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?)",
                (
                    run_id,
                    insee,
                    name,
                    started_at,
                    _now(),
                    grade.get("letter"),
                    float(score) if isinstance(score, int | float) else None,
                    pack(report),
                ),
            )
            rows = []
            for finding in findings_of(report):
                key = identity(finding)
                status = str(finding.get("status", ""))
                # An open finding keeps the date it was first seen open while it stays open.
                first_seen = previous.get(key, day) if status in OPEN else None
                rows.append(
                    (
                        run_id,
                        insee,
                        *key,
                        status,
                        str(finding.get("severity", "")),
                        int(is_waived(finding)),
                        first_seen,
                    )
                )
            self.conn.executemany(
                "INSERT INTO findings (run_id, insee, check_id, target, resource, status, severity, waived, "
                "first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if facts is not None:
                self.conn.execute(
                    "INSERT INTO facts (run_id, insee, facts) VALUES (?, ?, ?)", (run_id, insee, pack(facts))
                )

    def record_error(self, run_id: int, insee: str, name: str, started_at: str, error: str) -> None:
        """A commune that could not be scanned this time (retried when the run is resumed)."""
        with self._transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO commune_runs "
                "(run_id, insee, name, status, started_at, finished_at, error) "
                "VALUES (?, ?, ?, 'error', ?, ?, ?)",
                (run_id, insee, name, started_at, _now(), error[:1000]),
            )

    def _open_since(self, insee: str, before_run: int) -> dict[Identity, str]:
        """First-seen dates of the findings open at the commune's previous completed run."""
        previous = self.previous_run(insee, before_run)
        return self._dates(insee, previous) if previous is not None else {}

    def _dates(self, insee: str, run_id: int) -> dict[Identity, str]:
        rows = self.conn.execute(
            "SELECT check_id, target, resource, first_seen FROM findings "
            "WHERE run_id = ? AND insee = ? AND first_seen IS NOT NULL",
            (run_id, insee),
        ).fetchall()
        return {(r[0], r[1], r[2]): str(r[3]) for r in rows}

    def first_seen(self, insee: str, run_id: int) -> dict[Identity, str]:
        """First-seen dates of the commune's open findings at `run_id` (for compare())."""
        found = self._dates(insee, run_id)
        # A fixed finding is no longer open at this run: its age comes from the run before.
        for key, day in self._open_since(insee, run_id).items():
            found.setdefault(key, day)
        return found

    def previous_run(self, insee: str, before_run: int) -> int | None:
        row = self.conn.execute(
            "SELECT MAX(run_id) FROM commune_runs WHERE insee = ? AND status = 'done' AND run_id < ?",
            (insee, before_run),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def report(self, run_id: int, insee: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT report FROM commune_runs WHERE run_id = ? AND insee = ? AND status = 'done'",
            (run_id, insee),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        data = unpack(bytes(row[0]))
        return data if isinstance(data, dict) else None

    def latest_report(self, insee: str, at_or_before: int) -> tuple[int, dict[str, Any]] | None:
        """The commune's newest completed report up to run `at_or_before`."""
        run = self.previous_run(insee, at_or_before + 1)
        if run is None:
            return None
        report = self.report(run, insee)
        return (run, report) if report is not None else None

    def facts(self, run_id: int, insee: str) -> Any:
        row = self.conn.execute(
            "SELECT facts FROM facts WHERE run_id = ? AND insee = ?", (run_id, insee)
        ).fetchone()
        return unpack(bytes(row[0])) if row else None

    def scores(self, insee: str, up_to: int | None = None, limit: int = 24) -> list[ScorePoint]:
        """The commune's score series, oldest first (the last `limit` completed runs)."""
        rows = self.conn.execute(
            "SELECT c.run_id, c.started_at, c.score, c.grade_letter FROM commune_runs c "
            "WHERE c.insee = ? AND c.status = 'done' AND c.run_id <= ? ORDER BY c.run_id DESC LIMIT ?",
            (insee, up_to if up_to is not None else 2**62, limit),
        ).fetchall()
        return [ScorePoint(int(r[0]), str(r[1])[:10], r[2], r[3]) for r in reversed(rows)]

    def commune_statuses(self, run_id: int) -> dict[str, tuple[str, str | None]]:
        rows = self.conn.execute(
            "SELECT insee, status, error FROM commune_runs WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {str(r[0]): (str(r[1]), r[2]) for r in rows}

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


class _Tx:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        # IMMEDIATE takes the write lock now: a `fleet report` reading meanwhile never sees half a commune.
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
