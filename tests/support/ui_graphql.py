"""A small client for the Dagster webserver's `/graphql`, over plain httpx.

The UI test and the screenshot script drive a real `dagster dev` with it: launch the catalog
job, add a prompt-set partition, launch a partition run and wait for it, exactly as a user
clicking in the UI would. Failures quote the run's error events, so a red test says why the
run failed instead of only "FAILURE". (`dagster_graphql.DagsterGraphQLClient` exists, but it
does not launch asset selections or read event logs, and the core stays free of dagster.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

ASSET_JOB = "__ASSET_JOB"
"""The implicit job that can materialize any selection of assets in a code location."""
REPOSITORY = "__repository__"
"""The repository name Dagster gives a module-level `Definitions`."""
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

ADD_DYNAMIC_PARTITION = """
mutation AddPartition($key: String!, $defName: String!, $repo: RepositorySelector!) {
  addDynamicPartition(partitionKey: $key, partitionsDefName: $defName, repositorySelector: $repo) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status tags { key value } }
    ... on PythonError { message }
    ... on RunNotFoundError { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($runId: ID!, $cursor: String) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(afterCursor: $cursor, limit: 1000) {
        cursor
        hasMore
        events {
          __typename
          ... on MessageEvent { message level stepKey eventType }
          ... on ErrorEvent { error { message className stack } }
        }
      }
    }
  }
}
"""


class GraphQLError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


class DagsterUI:
    """`DagsterUI("http://127.0.0.1:3000", location="fal_platform")`; every call is synchronous.

    `responses` keeps each raw response body, so a test can assert a secret never appears.
    """

    def __init__(self, base_url: str, location: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.location = location
        self.responses: list[str] = []
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DagsterUI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def repository_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": REPOSITORY}

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST /graphql; raise on transport-level GraphQL errors, return `data`."""
        response = self._http.post("/graphql", json={"query": query, "variables": variables or {}})
        self.responses.append(response.text)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError("; ".join(str(e.get("message")) for e in body["errors"]))
        data: dict[str, Any] = body["data"]
        return data

    # --- runs --------------------------------------------------------------------------------

    def launch(
        self,
        *,
        job_name: str = ASSET_JOB,
        asset_paths: Sequence[Sequence[str]] | None = None,
        tags: dict[str, str] | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """Queue a run (the daemon starts it) and return its id."""
        selector: dict[str, Any] = {**self.repository_selector, "jobName": job_name}
        if asset_paths is not None:
            selector["assetSelection"] = [{"path": list(p)} for p in asset_paths]
        params: dict[str, Any] = {
            "selector": selector,
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
        if run_config is not None:
            params["runConfigData"] = run_config
        result = self.query(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or result.get("errors") or result
            raise GraphQLError(f"launchRun -> {result['__typename']}: {detail}")
        run_id: str = result["run"]["runId"]
        return run_id

    def launch_partition(
        self,
        asset_paths: Sequence[Sequence[str]],
        partition: str,
        run_config: dict[str, Any] | None = None,
    ) -> str:
        return self.launch(
            asset_paths=asset_paths, tags={"dagster/partition": partition}, run_config=run_config
        )

    def add_dynamic_partition(self, partitions_def: str, key: str) -> bool:
        """True if added, False if it already existed (e.g. the sensor added it first)."""
        result = self.query(
            ADD_DYNAMIC_PARTITION,
            {"key": key, "defName": partitions_def, "repo": self.repository_selector},
        )["addDynamicPartition"]
        kind = result["__typename"]
        if kind == "AddDynamicPartitionSuccess":
            return True
        if kind == "DuplicateDynamicPartitionError":
            return False
        raise GraphQLError(f"addDynamicPartition -> {kind}: {result.get('message')}")

    def run_status(self, run_id: str) -> str:
        result = self.query(RUN_STATUS, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise GraphQLError(f"runOrError({run_id}) -> {result['__typename']}: {result}")
        status: str = result["status"]
        return status

    def wait_for_run(self, run_id: str, timeout: float, poll: float = 1.0) -> RunOutcome:
        """Poll until the run ends; raise TimeoutError (with its errors so far) at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.run_status(run_id)
            if status in TERMINAL_STATUSES:
                return RunOutcome(run_id, status)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run_id} still {status} after {timeout:g}s; its last events:\n"
                    + self.run_log_tail(run_id)
                )
            time.sleep(poll)

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        """Every event of the run's log, oldest first (message, level, stepKey, error...)."""
        events: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            run = self.query(RUN_EVENTS, {"runId": run_id, "cursor": cursor})["runOrError"]
            connection = (run or {}).get("eventConnection")
            if not connection:
                return events
            events.extend(connection["events"])
            if not connection["hasMore"]:
                return events
            cursor = connection["cursor"]

    def run_errors(self, run_id: str) -> str:
        """The run's ERROR-level events and failure messages with their Python errors, as text."""
        lines: list[str] = []
        for event in self.run_events(run_id):
            error = event.get("error")
            if event.get("level") != "ERROR" and not error:
                continue
            lines.append(_describe(event))
            if error:
                lines.append(f"  {error.get('className')}: {(error.get('message') or '').strip()}")
                lines.extend("  " + s.rstrip() for s in (error.get("stack") or [])[-6:])
        return "\n".join(lines) or f"(no error events in run {run_id})"

    def run_log_tail(self, run_id: str, count: int = 15) -> str:
        """The last `count` events, to see where a slow run is (e.g. waiting for a pool slot)."""
        events = self.run_events(run_id)[-count:]
        return "\n".join(_describe(e) for e in events) or f"(no events in run {run_id})"


def _describe(event: dict[str, Any]) -> str:
    where = f"[{event['stepKey']}] " if event.get("stepKey") else ""
    return f"{event.get('eventType') or event.get('__typename')} {where}{event.get('message', '')}"
