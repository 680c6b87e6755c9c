"""The retrieve step: embed the question (a billed, idempotent model call) and query the vector index.

With a score gap, chunks scoring more than the gap below the best are dropped: a distractor in the context costs
tokens in every later step, and a small model answers from whichever chunk comes first or says most (measured in
docs/models.md). The gap is relative, so it holds for any embedding model's scale of cosine similarities.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.inference import InferenceActivities
from runtime.vectorindex import DimensionMismatchError, EmptyCollectionError, VectorIndex
from schemas.answer import RetrievedChunk
from schemas.inference import EmbedRequest
from schemas.retrieval import RetrieveRequest, RetrieveResult


class RetrievalActivities:
    """Retrieval over the vector index, embedding through the inference activities' never-pay-twice path."""

    def __init__(self, inference: InferenceActivities, index: VectorIndex) -> None:
        self.inference = inference
        self.index = index

    @activity.defn(name="retrieve")
    async def retrieve(self, req: RetrieveRequest) -> RetrieveResult:
        """Embed the question, then return the top-k chunks of the collection, best first."""
        embedded = await self.inference.embed(
            EmbedRequest(step=req.step, index=req.index, model=req.model, texts=[req.question], emit_events=True)
        )
        try:
            chunks = await self.index.query(req.collection, embedded.vectors[0], req.top_k, req.model)
        except EmptyCollectionError as err:
            # Not a model failure: retrying cannot help and it is no dead letter, so the job just fails.
            raise ApplicationError(str(err), type="EmptyCollection", non_retryable=True) from None
        except DimensionMismatchError as err:
            raise ApplicationError(str(err), type="DimensionMismatch", non_retryable=True) from None
        kept = within_gap(chunks, req.score_gap)
        activity.logger.info(
            "retrieved %d chunks from %s (%d past the score gap)", len(kept), req.collection, len(chunks) - len(kept)
        )
        return RetrieveResult(chunks=kept, usage=embedded.usage)


def within_gap(chunks: list[RetrievedChunk], gap: float | None) -> list[RetrievedChunk]:
    """The chunks scoring at most `gap` below the best (all of them without a gap), in their order."""
    if gap is None or not chunks:
        return chunks
    best = max(chunk.score for chunk in chunks)
    return [chunk for chunk in chunks if chunk.score >= best - gap]
