"""`locust -f loadgen/select.py`: Locust registers the file under its name, `select`; the standard module must
still be the one every later `import select` gets (Locust runs in a subprocess: never in pytest's)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LOAD_AS_LOCUST_DOES = """
import sys
from locust.util.load_locustfile import load_locustfile
users, shapes = load_locustfile(sys.argv[1])
import select, selectors
print(sorted(users), select.__name__, select is selectors.select, callable(getattr(select, "poll", None)))
"""


def loaded(locustfile: str) -> str:
    argv = [sys.executable, "-c", LOAD_AS_LOCUST_DOES, str(REPO / locustfile)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_after_loading_the_locustfile_import_select_gives_the_standard_module():
    assert loaded("loadgen/select.py") == "['SelectUser'] select True True"


def test_the_staged_locustfile_runs_the_same_users():
    assert loaded("loadgen/staged.py") == "['SelectUser'] select True True"
