"""Run the simulator under uvicorn (uvloop + httptools when installed, no access log)."""

from __future__ import annotations

import uvicorn

from sim.app import create_app
from sim.config import SimConfig


def serve(config: SimConfig) -> None:
    """Serve until interrupted."""
    app = create_app(config)
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,
        backlog=max(2048, min(config.concurrency, 16384)),
        timeout_keep_alive=30,
        lifespan="off",
        # Hanging calls never finish by themselves: give in-flight calls 2 s on shutdown, not forever.
        timeout_graceful_shutdown=2,
    )
    uvicorn.Server(uv_config).run()
