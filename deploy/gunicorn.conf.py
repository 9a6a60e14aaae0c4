"""gunicorn settings for Bottega: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Every value can be changed from the environment (the systemd unit reads /etc/bottega/bottega.env)
without editing this file. See docs/deploy.md for why each one is what it is.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


# Where nginx reaches the app: loopback only. BOTTEGA_BIND may be a unix socket (unix:/run/...).
bind = os.environ.get("BOTTEGA_BIND", "127.0.0.1:8000")

# gthread, as bench/ measures it (gunicorn -k gthread --threads 4): a launch waits on the LMS
# (key sets) and every page on PostgreSQL, and threads overlap that waiting where a sync worker
# would sit idle; a sync worker also closes every connection, so nginx's keep-alive to the app
# would be lost. Workers use the CPUs; threads cover the waiting. Each thread holds at most one
# database connection (SQLAlchemy's pool: 5 + 10 overflow per worker), so size PostgreSQL's
# max_connections for workers x threads on every host, plus two per job worker.
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count()))
threads = _int("BOTTEGA_THREADS", 4)

# A worker silent for this long is killed and replaced: no request should take 30 s (LMS calls
# time out after HTTP_CONNECT_TIMEOUT + HTTP_READ_TIMEOUT, long work runs in job workers).
timeout = _int("BOTTEGA_TIMEOUT", 30)
graceful_timeout = 30  # on restart or stop, requests in flight get this long to finish
keepalive = 10  # idle keep-alive seconds: longer than a pause between clicks (no reuse race)

# Recycle workers now and then: a slow leak can never grow without bound. The jitter keeps
# them from all restarting at once. Per-process caches (docs/deploy.md) simply refill.
max_requests = _int("BOTTEGA_MAX_REQUESTS", 5000)
max_requests_jitter = 500

# Not preloaded: each worker imports the app itself after the fork, so no database connection,
# thread or file handle is ever shared between processes, and `systemctl reload bottega-web`
# (SIGHUP) starts workers on the new code. Preloading would save some memory per worker but
# would make a reload keep the old code.
preload_app = False

# nginx on the same host is the only client: trust its X-Forwarded-* headers (gunicorn sets
# wsgi.url_scheme from them). The app applies them too, through PROXY_COUNT (ProxyFix): keep
# PROXY_COUNT=1 for one nginx in front. Give the proxy's address here if it runs elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Heartbeat files on tmpfs: a worker busy writing to a slow disk is not taken for dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (unlinked files)

# Logs on stderr (journald keeps them). The access log names the worker's pid (<1234>): which
# worker answered is visible, as the multi-process test checks.
accesslog = os.environ.get("BOTTEGA_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("BOTTEGA_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s "%(a)s"'

proc_name = "bottega-web"
