"""Starting a devtools server's CLI as a subprocess and reading its one-line banner."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_cli(module: str, banner: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m MODULE ARGS``; wait (bounded) for ``BANNER listening on URL``; return
    the process and the URL. The caller stops the process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=20)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"no banner; stderr: {process.communicate()[1]}") from None
    match = re.fullmatch(rf"{re.escape(banner)} listening on (http://127\.0\.0\.1:\d+)\n", line)
    if match is None:
        process.kill()
        raise AssertionError(f"unexpected banner {line!r}; stderr: {process.communicate()[1]}")
    return process, match.group(1)
