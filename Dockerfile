# The genai-flow application image: worker, gateway and simulator (`genai-flow <command>`).
#   docker build -t genai-flow .      docker run --rm genai-flow worker --queues genai-inference
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    GENAI_FLOW_HOME=/var/lib/genai-flow

RUN python -m pip install --no-cache-dir uv==0.13.8 \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /var/lib/genai-flow && chown app /var/lib/genai-flow

WORKDIR /app
# Dependencies first (from the lockfile), so code changes do not rebuild this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --compile-bytecode
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY launcher ./launcher
COPY starter ./starter
COPY gateway ./gateway
COPY schemas ./schemas
COPY runtime ./runtime
COPY sim ./sim
RUN uv sync --frozen --no-dev --compile-bytecode

ENV PATH=/app/.venv/bin:$PATH
USER app
# SIGTERM reaches genai-flow directly (exec form): workers drain, then exit 0.
ENTRYPOINT ["genai-flow"]
CMD ["worker"]
