"""Every Redis key genai-flow uses, in one place, all under `settings.key_prefix`.

- `<prefix>:events:<job_id>` (stream): progress events of a job, MAXLEN ~ 1000 (EventPublisher).
- `<prefix>:progress:<job_id>:<run_id>` (hash): items done per part of a run, e.g. chunks embedded per group
  (activities/step_events.py), so a step event can say how far the whole run is; expires with the stream.
- `<prefix>:idem:<workflow_id>/<step>[/<index>]` (string): the never-pay-twice lease `<attempt>:<acquired-ms>`,
  or `completed:<result json>` once the call's result is stored (inference activities).
- `<prefix>:cache:<sha256>` (string): cross-job result of a temperature-0 call (inference activities).
- `<prefix>:dlq:<job_id>`: dead-letter details of a job (written by the workflows' dead-letter activity).
- `<prefix>:doc:<sha256(collection, uri)>` (string): the index's record of one document (`runtime/documents.py`),
  and `...:lock` beside it while a run changes that document's chunks.
- `<prefix>:agent:transcript:<job_id>` (list of JSON messages): an agent's full transcript, kept out of history.
- `<prefix>:stats:<unix minute>` (hash): per-minute job, latency, token and cost counters (runtime/jobstats.py).
- `<prefix>:workers:<identity>` (hash, short TTL): a live worker's slot use per queue (workers/utilisation.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


class _HasPrefix(Protocol):
    @property
    def key_prefix(self) -> str: ...


@dataclass(frozen=True)
class RedisKeys:
    """Builds the project's Redis key names for one prefix (tests use a unique prefix each)."""

    prefix: str

    @classmethod
    def of(cls, settings: _HasPrefix) -> RedisKeys:
        """Keys under the configured `GENAI_FLOW_KEY_PREFIX`."""
        return cls(settings.key_prefix)

    def events(self, job_id: str) -> str:
        """The progress-event stream of one job."""
        return f"{self.prefix}:events:{job_id}"

    def terminal_event(self, job_id: str, run_id: str) -> str:
        """Marks that a run's terminal event is on its job's stream (a retried closing step publishes it once)."""
        return f"{self.prefix}:events:{job_id}:terminal:{run_id}"

    def progress(self, job_id: str, run_id: str) -> str:
        """Items done per part of one run (a hash), summed into the `so far` counts of step events."""
        return f"{self.prefix}:progress:{job_id}:{run_id}"

    def idempotency(self, idempotency_key: str) -> str:
        """The never-pay-twice lock / stored result of one model call (`<workflow_id>/<step>[/<index>]`)."""
        return f"{self.prefix}:idem:{idempotency_key}"

    def inference_cache(self, digest: str) -> str:
        """A cross-job cached result of a deterministic (temperature-0) call, keyed by a request hash."""
        return f"{self.prefix}:cache:{digest}"

    def dead_letter(self, job_id: str) -> str:
        """Dead-letter details of one job (step, attempts, last error, input reference, replayed)."""
        return f"{self.prefix}:dlq:{job_id}"

    def document(self, collection: str, uri: str) -> str:
        """The index's record of one document (current version, generation, the run that indexed it)."""
        digest = hashlib.sha256(f"{collection}\0{uri}".encode()).hexdigest()[:40]
        return f"{self.prefix}:doc:{digest}"

    def agent_transcript(self, job_id: str) -> str:
        """The chat transcript of one agent run (root or sub-agent), one JSON message per list entry."""
        return f"{self.prefix}:agent:transcript:{job_id}"

    def stats_minute(self, minute: int) -> str:
        """The per-minute job counters of one unix minute."""
        return f"{self.prefix}:stats:{minute}"

    def worker_slots(self, identity: str) -> str:
        """The slot-use report of one live worker process."""
        return f"{self.prefix}:workers:{identity}"

    def router(self, endpoint: str, part: str) -> str:
        """One part of the model router's shared state of an endpoint (runtime/limiter.py)."""
        return f"{self.prefix}:router:{endpoint}:{part}"

    def worker_slots_pattern(self) -> str:
        """SCAN pattern matching every live worker's report."""
        return f"{self.prefix}:workers:*"
