"""The Celery queues: `sync` (directory synchronization), `health` (connection probes), `default` (the rest).

A worker started without `-Q` consumes every queue in ALL."""

DEFAULT = "default"
SYNC = "sync"
HEALTH = "health"
ALL = (DEFAULT, SYNC, HEALTH)
