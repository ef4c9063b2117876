"""Wall time and peak memory of `cyberscan fleet run` over ≥ 50 loopback communes, at several --jobs.

Usage: .venv/bin/python benchmarks/fleet_scale.py [--communes 50] [--jobs 1 4 8] [--only 'WEB-*']
Every commune has its own domain (apex + www) on one loopback web server; each fleet run happens in a
fresh child process so that its peak RSS is its own. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import closed_udp_port
from fleet.fleet_helpers import SwitchableServer, site, write_config, write_inventory


def child(inventory: str, db: str, out: str, jobs: int, only: str, rate: float) -> None:
    from cyberscan.fleet.inventory import load_inventory
    from cyberscan.fleet.runner import FleetOptions, run_fleet
    from cyberscan.registry import load_registry

    registry = load_registry(load_plugins=False)
    started = time.monotonic()
    result = run_fleet(
        load_inventory(Path(inventory), registry),
        registry,
        Path(db),
        FleetOptions(jobs=jobs, only=(only,), per_ip_rate=rate),
    )
    wall = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "peak_mb": peak_kb / 1024,
                "done": len(result.scanned),
                "complete": result.complete,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--communes", type=int, default=50)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--only", default="WEB-*")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0])
    parser.add_argument("--child", nargs=6)
    args = parser.parse_args()
    if args.child:
        inventory, db, out, jobs, only, rate = args.child
        child(inventory, db, out, int(jobs), only, float(rate))
        return
    names = [f"commune-{i:03d}.test" for i in range(args.communes)]
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SwitchableServer([site(n, hsts=i % 3 != 0) for i, n in enumerate(names)]) as server,
    ):
        directory = Path(tmp)
        write_config(directory, server, closed_udp_port(), names)
        inventory = write_inventory(
            directory, [(f"Commune {i}", f"{45000 + i:05d}", [n]) for i, n in enumerate(names)]
        )
        for rate in args.rates:
            for jobs in args.jobs:
                db = directory / f"h-{jobs}-{rate}.sqlite"
                before = len(server.requests)
                output = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(inventory),
                        str(db),
                        str(directory / "out"),
                        str(jobs),
                        args.only,
                        str(rate),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                data = json.loads(output.strip().splitlines()[-1])
                rows.append((jobs, rate, data, len(server.requests) - before))
    print(
        f"{args.communes} communes, {2 * args.communes} web hosts, checks {args.only!r}, one loopback server"
    )
    print(
        f"{'jobs':>4} {'per-IP rate':>11} {'wall (s)':>9} {'peak RSS (MB)':>14} "
        f"{'requests':>9} {'complete':>9}"
    )
    for jobs, rate, data, requests in rows:
        shown = "off" if rate == 0 else f"{rate:g}/s"
        print(
            f"{jobs:>4} {shown:>11} {data['wall']:>9.1f} {data['peak_mb']:>14.1f} "
            f"{requests:>9} {data['complete']!s:>9}"
        )


if __name__ == "__main__":
    main()
