"""Who owns the job a sealed payload names: its `GenAIOwner`, or its root job's for child workflows (they carry none).

`/codec/decode` asks once per job and remembers the answer (an owner never changes), within a bounded cache.
"""

from __future__ import annotations

from collections import OrderedDict

from temporalio.service import RPCError, RPCStatusCode

from starter.client import GenAIFlowClient
from starter.status import owner_of

CACHE_SIZE = 10_000


class JobOwners:
    """Key ids of jobs' owners, looked up with `describe()` and cached (least recently used dropped first)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    async def owner(self, flow: GenAIFlowClient, job_id: str) -> str | None:
        """The owner's key id; None when the job is unknown (then nobody but an admin decodes its payloads)."""
        if job_id in self._known:
            self._known.move_to_end(job_id)
            return self._known[job_id]
        try:
            desc = await flow.temporal.get_workflow_handle(job_id).describe()
            owner = owner_of(desc)
            if not owner and desc.root_id and desc.root_id != job_id:
                # A child (an agent's answer_question or sub-agent): its root job's owner owns it.
                owner = owner_of(await flow.temporal.get_workflow_handle(desc.root_id).describe())
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        if owner:
            self._known[job_id] = owner
            if len(self._known) > self._size:
                self._known.popitem(last=False)
        return owner or None
