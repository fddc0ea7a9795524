"""Every time limit of the daemon, in one place, and how they add up below the watchdog.

systemd kills the daemon when WATCHDOG=1 stops for WATCHDOG_S. The loop pings every half of
that from its own waits, idle or while an audit's call runs in a thread, so a ping comes as
long as the loop runs: WATCHDOG=1 means the loop is healthy, not that every dependency
answers. Each half of an audit (the measurement; the write) runs in a thread and is abandoned
after CALL_DEADLINE_S (or half the watchdog interval, if that is shorter); a call abandoned
and still running is never started again until it returns, so stuck threads cannot pile up.

The limits inside each half end the common faults on their own, with a clear error, before
the loop has to abandon the call:

  write to a hung MySQL server (accepts TCP, never answers):
      pool pre-ping DB_READ_S + reconnect DB_CONNECT_S + handshake DB_READ_S   = 45 s < 60 s
  a row lock held by another session: each try waits DB_LOCK_WAIT_S (then 1205), and no
      try starts after DB_RETRY_BUDGET_S; a try holds at most a few lock waits
      (the heartbeat UPDATE, then compute_nodes writes):  20 + 4 * 5 + 1 (jitter) = 41 s < 60 s
  SQLite busy (another writer): SQLITE_BUSY_S per statement, the same retry budget
  libvirt call on an open connection to a frozen libvirtd: keepalive
      LIBVIRT_KEEPALIVE_INTERVAL_S * (LIBVIRT_KEEPALIVE_COUNT + 1)                = 20 s < 60 s
  libvirt open (virConnectOpen has no time limit, keepalive starts after it),
  stat() on a hung network file system: no limit of their own; abandoned at 60 s
  the domain capabilities over their own read-write connection (at a new connection only):
      waited for DOMAIN_CAPABILITIES_S, then left to finish in their thread (the audit goes on
      without them)                                                               = 10 s
  LVM `vgs`: LVM_VGS_S                                                            = 30 s < 60 s
  Placement (after the row is committed, in the same half): each request PLACEMENT_CALL_S
      at most and never past the report's deadline, which is PLACEMENT_BUDGET_S after it
      starts and PLACEMENT_MARGIN_S before the half's; a token fetched from Keystone on
      the way takes at most PLACEMENT_CALL_S more:            <= 60 - 15 + 10 = 55 s < 60 s

So a watchdog restart means the loop itself is wedged (its hub blocked), never that a
dependency is slow: a failing dependency shows in STATUS=, the log, /healthz and metrics.
"""

WATCHDOG_S = 120  # WatchdogSec= of etc/systemd/resource-tracker.service (a test compares)
CALL_DEADLINE_S = 60.0  # each half of an audit is abandoned after this: WATCHDOG_S / 2
START_CHECK_S = 10.0  # the schema check at start-up; READY=1 is not held longer than this
STOP_GRACE_S = 10.0  # on SIGTERM, a write in progress gets this long to commit

DB_CONNECT_S = 5  # PyMySQL connect_timeout: the TCP connection
DB_READ_S = 20  # PyMySQL read_timeout: any one answer, the handshake's included
DB_WRITE_S = 20  # PyMySQL write_timeout
# innodb_lock_wait_timeout of our sessions: far below DB_READ_S, so a lock held by another
# session ends as error 1205 (retried) rather than as a read timeout (a dropped connection)
DB_LOCK_WAIT_S = 5
DB_RETRY_BUDGET_S = 20.0  # no new try of a reconcile's transaction starts after this
SQLITE_BUSY_S = 5.0  # SQLite's busy_timeout: how long a statement waits for another writer

LIBVIRT_KEEPALIVE_INTERVAL_S = 5  # a libvirtd that misses 3 keepalives in a row is dropped
LIBVIRT_KEEPALIVE_COUNT = 3
LVM_VGS_S = 30.0
DOMAIN_CAPABILITIES_S = 10.0

PLACEMENT_CALL_S = 10.0  # any one request to Placement: connect, and each read
PLACEMENT_BUDGET_S = 20.0  # the report's requests end this long after it starts
PLACEMENT_MARGIN_S = 15.0  # ... nor this close to the write half's CALL_DEADLINE_S
