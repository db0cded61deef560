"""Everything one running emulator holds, shared by all handlers.

Handlers run on one event loop and never await while mutating, so no locks are needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fal_platform.emulator.catalog import Catalog
from fal_platform.emulator.config import EmulatorConfig
from fal_platform.emulator.faults import FaultInjector
from fal_platform.emulator.jobs import JobStore
from fal_platform.emulator.planner import Planner
from fal_platform.emulator.stats import Stats
from fal_platform.emulator.storage import FileStore
from fal_platform.emulator.webhooks import WebhookDispatcher


@dataclass
class EmulatorState:
    config: EmulatorConfig
    catalog: Catalog
    jobs: JobStore
    planner: Planner
    faults: FaultInjector
    stats: Stats
    webhooks: WebhookDispatcher
    clock: Callable[[], float]
    storage: FileStore

    @classmethod
    def create(
        cls, config: EmulatorConfig, clock: Callable[[], float] = time.time
    ) -> EmulatorState:
        return cls(
            config=config,
            catalog=Catalog(config.models, config.seed),
            jobs=JobStore(config.seed),
            planner=Planner(config.seed),
            faults=FaultInjector(config, clock()),
            stats=Stats(),
            webhooks=WebhookDispatcher(config, clock),
            clock=clock,
            storage=FileStore(),
        )

    def reconfigure(self, config: EmulatorConfig) -> None:
        self.config = config
        self.faults.reconfigure(config, self.clock())
        self.webhooks.reconfigure(config)
