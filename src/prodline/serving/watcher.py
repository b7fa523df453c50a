"""Hot swap: a thread follows the registry's champion alias and the newest cohort, loads what
changed beside the requests being served, and swaps it in with one assignment. A request takes the
served model once, so it never sees half of one version and half of another."""

import datetime as dt
import gc
import logging
import threading
from collections.abc import Callable

from prodline.serving.champion import Served

log = logging.getLogger("prodline.serving")


class ChampionWatcher:
    """`look()` says what should be served now, as (version, newest as-of date); `load(version)`
    builds it. A failed load keeps the model in use and is kept in `failure` until a load succeeds."""

    def __init__(self, look: Callable[[], tuple], load: Callable[[str], Served], poll_seconds: float):
        self._look, self._load, self.poll_seconds = look, load, poll_seconds
        self.served: Served | None = None
        self.failure: dict | None = None
        self._failed: tuple | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One refresh at a time: a look taken before the alias moved must not clear what a later
        # look found (a failed load), nor load a version twice.
        self._refreshing = threading.Lock()

    def refresh(self) -> bool:
        """One look at the registry; True if a new model was swapped in."""
        with self._refreshing:
            return self._refresh()

    def _refresh(self) -> bool:
        try:
            wanted = self._look()
        except Exception as err:  # the registry or warehouse is unreachable: keep serving, say so
            self._fail(None, err, "looking at the registry")
            return False
        version = wanted[0]
        served = self.served
        if version is None or (served is not None and (served.version, served.as_of_date) == wanted):
            if version is not None:
                self.failure = self._failed = None
            return False
        try:
            new = self._load(version)
        except Exception as err:
            self._fail(wanted, err, f"loading version {version}")
            return False
        self.served = new  # the swap: one reference, read once per request
        self.failure = self._failed = None
        settle()
        log.info(
            "serving %s version %s (cohort of %s, %d entities)%s",
            new.name,
            new.version,
            new.as_of_date,
            len(new.index),
            "" if served is None else f"; was version {served.version}",
        )
        return True

    def _fail(self, wanted: tuple | None, err: Exception, doing: str) -> None:
        kept = self.served
        message = f"{doing} failed: {type(err).__name__}: {err}"
        if wanted != self._failed or self.failure is None:  # once per failing version, not every poll
            log.error(
                "%s; %s",
                message,
                f"still serving version {kept.version}" if kept else "no model to serve yet",
                exc_info=err,
            )
        self._failed = wanted
        self.failure = {
            "version": None if wanted is None else wanted[0],
            "error": message,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "serving": None if kept is None else kept.version,
        }

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="prodline-champion-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def settle() -> None:
    """Put what is alive now (the imports, the model) out of the garbage collector's reach. A full
    collection otherwise walks all of it every few seconds under load: 0.2 s with every request
    waiting, which made the p99 of one-row scores at 8 connections 225 ms instead of 20 ms. Unfrozen
    and collected first, so that the model just replaced is freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
