"""`app.py serve` on a port already taken says so and stops, before touching the store."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {"PATH": "/usr/bin:/bin", "HOMEWARD_DATA_DIR": str(tmp_path),
               "HOMEWARD_DB_URL": f"duckdb:///{tmp_path / 'store.duckdb'}", "HOMEWARD_PSEUDO_KEY": "test"}
        done = subprocess.run([sys.executable, str(ROOT / "app.py"), "serve", "--no-scheduler", "--port", str(port)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "store.duckdb").exists()  # nothing was created
