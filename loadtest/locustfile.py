"""200 signed-in admins across 50 organizations: Service Status and the progress page's htmx poll.

scripts/loadtest runs `Admins` for its mixed phase (Service Status and progress polling while a sync runs); the
throughput phases use wrk (loadtest/wrk.lua), a generator that leaves the server its core.
"""

import itertools
import json
import os
from http import HTTPStatus

from locust import HttpUser, constant, task

SEED = json.load(open(os.environ.get("LOADTEST_SEED", "var/loadtest/seed.json")))  # noqa: SIM115
_sessions = itertools.cycle(SEED["sessions"])


class Admins(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        admin = next(_sessions)
        self.org = admin["org"]
        self.client.cookies.set(SEED["cookie"], admin["session"])

    def service_status(self) -> None:
        with self.client.get(f"/o/{self.org}/service-status/", name="service status", catch_response=True) as r:
            if r.status_code != HTTPStatus.OK or "Exchange Online" not in r.text:
                r.failure(f"status {r.status_code}")

    def progress(self) -> None:
        url = f"/o/{self.org}/services/exchange-online/progress/"
        with self.client.get(url, name="progress poll", headers={"HX-Request": "true"}, catch_response=True) as r:
            if r.status_code != HTTPStatus.OK or "Users synchronized" not in r.text:
                r.failure(f"status {r.status_code}")

    @task
    def browse(self) -> None:
        self.service_status()

    @task
    def poll(self) -> None:
        self.progress()
