"""What the directory tells the apps above it, which connect their receivers in `AppConfig.ready()`."""

from django.dispatch import Signal

# A sync run succeeded (`run`), sent inside the transaction that records it: a receiver acts on commit.
sync_succeeded = Signal()
