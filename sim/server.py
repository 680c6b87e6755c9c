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
    )
    uvicorn.Server(uv_config).run()
