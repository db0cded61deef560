"""Runs that execute in this process but are recorded as the code location's own.

`JobDefinition.execute_in_process` records a run with no code location and the snapshot of an
ephemeral copy of the job (its executor and IO manager swapped), so the UI cannot tell which
definitions made it: "Re-execute" of such a run warns that `__ASSET_JOB` "may be a different
version". The demo instead loads the job the way `dg dev` does, from `workspace.yaml`, and
records each run with that location's origin and the job's own snapshot; the UI then finds the
run's location and snapshot (`origin-and-snapshot`) and re-executes it without a warning.

The code location's `defs` read their settings from the environment when imported
(`fal_platform/definitions.py`); what must differ for the demo (its emulator, its data folder)
is passed as run config, which the snapshot does not include. The location's executor runs
every step in this process, so nothing here starts a process.

Dagster-facing like `demo.py`: Dagster is imported only when a location is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster import DagsterInstance, JobExecutionResult
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.remote_origin import RemoteJobOrigin

ASSET_JOB = "__ASSET_JOB"
"""The implicit job of every asset in a `Definitions`; the UI's Materialize launches it."""
REPOSITORY = "__repository__"
"""The one repository a `Definitions` object becomes."""


@dataclass(frozen=True)
class LocationJob:
    """The code location's asset job, reconstructable, and the origin the UI matches runs by."""

    job: ReconstructableJob
    origin: RemoteJobOrigin

    @classmethod
    def from_workspace(cls, workspace: Path) -> LocationJob:
        """The single `python_module` location in `workspace` (as `dg dev -w` loads it)."""
        from dagster._core.definitions.reconstruct import ReconstructableRepository
        from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        locations = WorkspaceFileTarget([str(workspace)]).create_origins()
        location = locations[0] if len(locations) == 1 else None
        target = getattr(location, "loadable_target_origin", None)
        if location is None or target is None or not (target.module_name and target.attribute):
            raise ValueError(f"{workspace}: expected one python_module location with an attribute")
        repository = ReconstructableRepository.for_module(
            target.module_name, target.attribute, target.working_directory
        )
        return cls(
            job=repository.get_reconstructable_job(ASSET_JOB),
            origin=RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY), ASSET_JOB),
        )

    def materialize(
        self,
        instance: DagsterInstance,
        keys: Sequence[Sequence[str]],
        run_config: Mapping[str, Any],
        partition_key: str | None = None,
    ) -> JobExecutionResult:
        """Materialize `keys` (one partition of them, if given) in a run of this location."""
        from dagster import AssetKey
        from dagster._core.execution.api import execute_run

        tags = {"dagster/partition": partition_key} if partition_key else {}
        run = instance.create_run_for_job(
            job_def=self.job.get_definition(),
            run_config=run_config,
            tags=tags,
            asset_selection={AssetKey(list(path)) for path in keys},
            remote_job_origin=self.origin,
            job_code_origin=self.job.get_python_origin(),
        )
        return execute_run(self.job, run, instance)
