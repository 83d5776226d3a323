"""Dependency vulnerability audit of the pinned set (constraints.txt) with pip-audit.

Fails on any known vulnerability that has a fixed version to move to; only warns for
findings with no fix yet, for pins the vulnerability service has no record of, and when
the service cannot be reached (CI must not fail on a network outage; the warning says so).
Run: `python .ci/audit.py [constraints.txt]`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    pins = Path(argv[1] if len(argv) > 1 else "constraints.txt")
    cmd = [sys.executable, "-m", "pip_audit", "-r", str(pins), "--no-deps", "--disable-pip"]
    done = subprocess.run([*cmd, "-f", "json"], capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        print(f"audit: WARNING: pip-audit did not run to completion: {tail}")
        return 0
    deps = report["dependencies"]
    fixable, unfixable = [], []
    for dep in deps:
        for vuln in dep.get("vulns", []):
            line = f"{dep['name']} {dep['version']}: {vuln['id']} (fix: {vuln['fix_versions']})"
            (fixable if vuln["fix_versions"] else unfixable).append(line)
    skipped = [d["name"] for d in deps if "skip_reason" in d]
    print(f"audit: {len(deps) - len(skipped)} of {len(deps)} pins audited")
    for line in unfixable:
        print(f"audit: WARNING (no fix released): {line}")
    if skipped:
        print(
            f"audit: WARNING: {len(skipped)} pins unknown to the vulnerability service, "
            f"not audited: {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}"
        )
    for line in fixable:
        print(f"audit: FAIL (upgrade available): {line}")
    return 1 if fixable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
