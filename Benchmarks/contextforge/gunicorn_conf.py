# Gunicorn hooks for running ContextForge (mcp-contextforge-gateway) in the
# benchmark. Condensed from upstream's gunicorn.config.py (v1.0.7, Apache-2.0),
# which is not shipped in the wheel: the fork-safety hooks are kept, bind,
# workers, timeouts and logging come from start.sh's command line.


def post_fork(server, worker):
    """Drop SQLAlchemy connections and the Redis client inherited from the
    preloaded master so that workers never share a connection (upstream does
    the same)."""
    server.log.info("Worker spawned (pid: %s)", worker.pid)
    try:
        from mcpgateway.db import engine  # noqa: PLC0415

        engine.dispose(close=False)
    except Exception as exc:  # noqa: BLE001
        server.log.warning("Failed to reset SQLAlchemy engine pool: %s", exc)
    try:
        from mcpgateway.utils.redis_client import _reset_client  # noqa: PLC0415

        _reset_client()
    except ImportError:
        pass
    try:
        from mcpgateway.config import settings  # noqa: PLC0415

        if settings.mcpgateway_session_affinity_enabled:
            import socket  # noqa: PLC0415

            from mcpgateway.services import session_affinity  # noqa: PLC0415

            session_affinity.WORKER_ID = f"{socket.gethostname()}:{worker.pid}"
    except Exception as exc:  # noqa: BLE001
        server.log.warning("post_fork: session affinity worker id not rebound: %s", exc)
