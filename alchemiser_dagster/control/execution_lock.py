"""One execution per (account, session) at a time, whatever launched it.

Two runs of one session (two `alchemiser run`, or one beside the scheduled run) would
otherwise both walk the same plan: the loser gets "client_order_id must be unique" on the
steps the winner placed, and whichever stores its result last decides what the ledger
says. The lock is a lease document beside the session's execution journal,
`<storage>/../control/executions/<D>-<account>.lock` (see `alchemiser_dagster.control.lease`
for how it is taken on a local disk and on S3). A run takes it before the journal's first
write and keeps it until its result is stored; a second run waits for it up to
`execution.lock_wait_seconds`, then stops with `ExecutionLocked` naming the holder. Once
it has the lock, the second run finds the journaled plan and the orders the first placed,
and adopts them instead of placing anything again.

A crashed holder's lock is taken over: at once when its process is gone (the kernel
releases a local flock; on S3 a holder on this host whose pid is dead), otherwise when its
heartbeat is older than `execution.lock_stale_seconds`. The holder refreshes the
heartbeat from a background thread every quarter of that time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.lease import Busy, Lease, LeaseHolder, lease_at
from alchemiser_dagster.domain.errors import ExecutionLocked, ExecutionLockLost

POLL_SECONDS = 1.0


class ExecutionLock:
    """The lease of one (account, session), taken with a bounded wait and kept alive."""

    def __init__(
        self,
        lease: Lease,
        *,
        wait_seconds: float,
        stale_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease = lease
        self._wait = wait_seconds
        self._beat = stale_seconds / 4
        self._sleep = sleep
        self._monotonic = monotonic
        self._me: LeaseHolder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = False

    @property
    def location(self) -> str:
        return self._lease.location

    @property
    def held(self) -> bool:
        return self._me is not None and not self._lost

    def acquire(self, run_id: str, on_wait: Callable[[Busy], None] | None = None) -> None:
        """Take the lock for `run_id`, waiting for another holder at most the wait bound."""
        if self._me is not None:
            return
        started = self._monotonic()
        announced: Busy | None = None
        while True:
            me = LeaseHolder.for_this_process(run_id)
            busy = self._lease.try_acquire(me)
            if busy is None:
                self._me = me
                self._start_heartbeat()
                return
            waited = self._monotonic() - started
            if waited >= self._wait:
                raise self._locked(busy, waited)
            if on_wait is not None and (announced is None or announced.holder != busy.holder):
                on_wait(busy)
                announced = busy
            self._sleep(min(POLL_SECONDS, self._wait - waited))

    def _locked(self, busy: Busy, waited: float) -> ExecutionLocked:
        holder = busy.holder
        who = holder.describe() if holder is not None else "a run that is taking or releasing it"
        return ExecutionLocked(
            f"another execution of this session is under way: {who} holds {self.location};"
            f" waited {waited:.0f} s (execution.lock_wait_seconds). Let it finish, then run again"
            " (the rerun adopts its orders); if that run is gone, its lock is taken over"
            " once its process has ended or its heartbeat is older than execution.lock_stale_seconds",
            lock=self.location,
            holder_run_id=holder.run_id if holder else None,
            holder_host=holder.host if holder else None,
            holder_pid=holder.pid if holder else None,
            waited_seconds=waited,
        )

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep_alive, name="execution-lock-heartbeat", daemon=True)
        self._thread.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._beat):
            me = self._me
            if me is None:
                return
            beat = LeaseHolder.for_this_process(me.run_id).model_copy(update={"acquired_at": me.acquired_at})
            if not self._lease.heartbeat(beat):
                self._lost = True
                return

    def confirm_held(self) -> None:
        """Raise when the lock was taken over while this run held it (its heartbeat stalled)."""
        if self._lost:
            raise ExecutionLockLost(
                f"{self.location}: the execution lock was taken over while this run executed"
                " (its heartbeat stalled past execution.lock_stale_seconds); another run may have"
                " executed the session too: check the broker's orders and rerun to adopt them"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._me is not None:
            self._me = None
            self._lease.release()


def session_lock(
    journal: ExecutionJournal,
    session: dt.date,
    account_number: str,
    *,
    wait_seconds: float,
    stale_seconds: float,
) -> ExecutionLock:
    """The lock of the (account, session) whose plan `journal` keeps."""
    lease = lease_at(journal.lock_path(session, account_number), stale_seconds)
    return ExecutionLock(lease, wait_seconds=wait_seconds, stale_seconds=stale_seconds)
