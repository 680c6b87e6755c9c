"""The retrieve step: embed the question (a billed, idempotent model call) and query the vector index."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.inference import InferenceActivities
from runtime.vectorindex import DimensionMismatchError, EmptyCollectionError, VectorIndex
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
        activity.logger.info("retrieved %d chunks from %s", len(chunks), req.collection)
        return RetrieveResult(chunks=chunks, usage=embedded.usage)
