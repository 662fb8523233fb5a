"""The cron loop: runs a :class:`~levante.engine.service.cron.CronFirer` pass every ``interval`` seconds.

The firer decides, per trigger, in its own transaction; this loop only paces it and keeps going
when a pass fails (a broken trigger is skipped so that it cannot block the others).
"""

from __future__ import annotations

import logging
import threading

from levante.engine.service.cron import CronFirer

LOG = logging.getLogger(__name__)
#: How often the engine looks for due cron triggers, in seconds (a six-field pattern may fire every second).
CRON_INTERVAL = 1.0


class CronLoop:
    """Fires due cron triggers with ``firer``, checking every :attr:`interval` seconds."""

    def __init__(self, firer: CronFirer, interval: float = CRON_INTERVAL) -> None:
        self.firer = firer
        #: Read before every wait: tests set it high to make the passes themselves.
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.firer.fire_due()
            except Exception:  # noqa: BLE001 - a broken trigger must not stop the loop
                LOG.exception("cron: failed to fire due triggers; skipping their firings")
                try:
                    self.firer.skip_broken()
                except Exception:  # noqa: BLE001
                    LOG.exception("cron: failed to skip broken triggers")
