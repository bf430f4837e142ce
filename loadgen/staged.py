"""The SELECT users of loadgen/users.py, with a number of users that changes during the run.

    locust -f loadgen/staged.py --headless -r 50 -t 40s --pg-stages 0:12,10:96,25:12

Locust follows a load shape when the locustfile defines one; this file adds one that reads --pg-stages
(AT_S:USERS,...) and stops at --run-time. `bench run` uses it for scenarios with `[[load.stages]]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `locust -f loadgen/staged.py` from anywhere

from locust import LoadTestShape

from loadgen.stages import parse_stages, users_at
from loadgen.users import SelectUser  # noqa: F401  (the users Locust runs)


class StagedLoad(LoadTestShape):
    """--pg-stages users from each second on, started or stopped at --spawn-rate, until --run-time."""

    def tick(self):
        options = self.runner.environment.parsed_options
        run_time = self.get_run_time()
        if options.run_time and run_time >= options.run_time:
            return None
        return users_at(parse_stages(options.pg_stages), run_time), options.spawn_rate
