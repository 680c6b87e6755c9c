"""embed_chunks on `genai-inference`: one chunk group's vectors through the never-pay-twice path.

A group (a claim of up to a few thousand chunks) is embedded one request batch (EMBED_BATCH texts) at a time, each
batch an idempotent inference call (`StepRunner`: Idempotency-Key `<job>/embed/<batch>`, Redis lock, stored result,
classified failures) whose stored result is a claim reference rather than the vectors, so Redis stays small. A retry
of the activity finds its finished batches stored and pays only for the rest; the group's vectors are written as
one claim whose reference is all that goes back to the workflow.

Events are per group, not per request batch: the batches run silently (`emit_events=False`), since hundreds of
`embed` start/complete pairs under one step name would say nothing a consumer can use and would crowd the job's
bounded stream. The group publishes `step.started` / `step.completed` as `embed#<group>`, the completion with the
chunks embedded so far in the whole run (a Redis tally of finished groups) and the document's total.

Chunk text is data: a simulator marker a document quotes is escaped before it is sent (`inert_markers`), so a
document about fault injection is indexed like any other.
"""

from __future__ import annotations

import numpy as np
from temporalio import activity

from activities.attempt import StepContext
from activities.embeddings import EMBED_BATCH, embed_texts
from activities.inference import InferenceActivities
from activities.router import owned_by
from activities.step_events import StepEvents
from runtime.claims import ClaimStore
from schemas.inference import InferenceCall
from schemas.ingest_steps import ChunkGroup, EmbedBatchResult, EmbedChunksRequest, EmbedChunksResult
from schemas.sim import inert_markers
from schemas.usage import total_usage


class EmbedChunksActivities:
    """Bulk embedding of chunk groups, built on the inference activities' client and step runner."""

    def __init__(self, inference: InferenceActivities, claims: ClaimStore, events: StepEvents) -> None:
        self.inference = inference
        self.claims = claims
        self.events = events

    @activity.defn(name="embed_chunks")
    async def embed_chunks(self, req: EmbedChunksRequest) -> EmbedChunksResult:
        """Embed one group, batch by batch (each batch paid at most once), and store its vectors as one claim."""
        step = f"{req.step}#{req.group}"
        if req.emit_events:
            await self.events.started(step, req.job_id)
        group = await self.claims.get_model(req.chunks, ChunkGroup)
        model = req.model or self.inference.settings.embed_model
        texts = [inert_markers(chunk.text) for chunk in group.chunks]
        results: list[EmbedBatchResult] = []
        with owned_by(req.owner):  # the router shares an endpoint's bulk part between owner keys, then their jobs
            for start in range(0, len(texts), EMBED_BATCH):
                number = (group.first + start) // EMBED_BATCH  # the batch's ordinal in the document: its key
                results.append(await self._batch(req, number, texts[start : start + EMBED_BATCH], model))
        matrices = [await self.claims.get_vectors(r.vectors) for r in results]
        vectors = np.concatenate(matrices) if matrices else np.zeros((0, 0), dtype=np.float32)
        ref = await self.claims.put_vectors(f"{req.claim_prefix}/vectors/group-{req.group:05d}.npy", vectors)
        result = EmbedChunksResult(vectors=ref, count=len(texts), usage=total_usage([r.usage for r in results]))
        if req.emit_events:
            embedded = await self.events.tally(str(req.group), len(texts), req.job_id)
            counts = {"group": req.group, "chunks": len(texts), "embedded": embedded, "total": req.total}
            await self.events.completed(step, {**counts, "usage": result.usage.model_dump(mode="json")}, req.job_id)
        return result

    async def _batch(self, req: EmbedChunksRequest, number: int, texts: list[str], model: str) -> EmbedBatchResult:
        call = InferenceCall(step=req.step, index=number, model=model, emit_events=False, job_id=req.job_id)

        async def compute(ctx: StepContext) -> EmbedBatchResult:
            vectors, usage = await embed_texts(
                self.inference.llm,
                texts,
                model,
                ctx.idempotency_key,
                batch_size=len(texts),
                request_timeout_s=ctx.timeout_s,
            )
            ref = await self.claims.put_vectors(f"{req.claim_prefix}/vectors/{number:06d}.npy", vectors)
            return EmbedBatchResult(vectors=ref, usage=usage)

        # No cross-job cache: a cached result would point at another run's claims, deleted when that run closed.
        return await self.inference.runner.run(call, EmbedBatchResult, compute)
