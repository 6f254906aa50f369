"""gunicorn settings for the Flask peer. One worker per core the process may
run on (taskset), as the bench asks. gunicorn's sync workers close every
connection after one request and expect a buffering proxy in front; served
directly to a keep-alive load generator, the docs point to threaded or async
workers, so this uses `gthread` with keep-alive."""

import os

bind = os.environ.get("PEER_BIND", "127.0.0.1:18801")
workers = len(os.sched_getaffinity(0))
worker_class = "gthread"
threads = 8
keepalive = 5
backlog = 2048
accesslog = None
loglevel = "warning"
