"""Who may use the server: the token it wants (checked at start), how a given token is compared, and
how many wrong ones an address may try."""

import hashlib
import hmac
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

from prodline.config.serving import ServingConfig

log = logging.getLogger("prodline.serving")

# 16 random characters (about 96 bits as secrets.token_urlsafe makes them) are out of reach of any
# guessing; shorter tokens are in practice words, names and "changeme", which a list of guesses finds.
MIN_TOKEN = 16
MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# Wrong tokens an address may give within WINDOW seconds before it is refused (429) until the oldest
# of them is WINDOW seconds old: a person who mistypes is not stopped, a guesser gets 5 a minute.
FAILURES, WINDOW = 5, 60.0


def api_token(serving: ServingConfig, environ: Mapping[str, str]) -> str | None:
    """The token every request but /health must carry, or None when the config opens the server on
    purpose. Raises ValueError saying why the server must not start."""
    name = serving.token_env
    token = environ.get(name)
    if token is None:
        if not serving.open:
            raise ValueError(
                f"${name} is not set, and the API would answer anyone: set it to a token of at least "
                f"{MIN_TOKEN} characters (make one with {MAKE_ONE}), or put `open: true` in the "
                "config's serving section to serve without a token on purpose"
            )
        log.warning(
            "serving.open is true and $%s is not set: every route answers without a token, to anyone "
            "who can reach this address", name,
        )
        return None
    if not token:
        raise ValueError(
            f"${name} is set but empty, which would be no token at all: set it to a token of at least "
            f"{MIN_TOKEN} characters (make one with {MAKE_ONE}), or unset it and put `open: true` in "
            "the config's serving section to serve without a token on purpose"
        )
    if len(token) < MIN_TOKEN:
        raise ValueError(
            f"${name} has {len(token)} characters; a token needs at least {MIN_TOKEN}, so that it "
            f"cannot be guessed (short ones are words and names that lists of guesses hold): make one "
            f"with {MAKE_ONE}"
        )
    if not all("!" <= c <= "~" for c in token):
        raise ValueError(
            f"${name} holds a space, a line break or a character that is not ASCII, which an "
            "Authorization header does not carry intact: use letters, digits and punctuation "
            f"(make one with {MAKE_ONE})"
        )
    if serving.open:
        log.warning("serving.open is true but $%s is set: the token is required all the same", name)
    log.info("every route but /health needs the token in $%s", name)
    return token


def same_token(given: str, token: str) -> bool:
    """In constant time: digests of equal length, so neither the content nor the length of the
    token shows in how long a wrong guess takes."""
    return hmac.compare_digest(_digest(given), _digest(token))


def client_address(request) -> str:
    """The address wrong tokens are counted by (behind a proxy on this machine, uvicorn takes the
    client's from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode(errors="surrogateescape")).digest()


class Attempts:
    """Wrong tokens by client address within the last `window` seconds (thread-safe: the API's
    sync routes check tokens in a thread pool). At most `capacity` addresses are remembered, the
    least recent forgotten first, so that a flood of addresses cannot grow it without bound."""

    def __init__(
        self,
        limit: int = FAILURES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 10_000,
    ) -> None:
        self.limit, self.window, self.clock, self.capacity = limit, window, clock, capacity
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None if it may now."""
        with self._lock:
            times = self._failures.get(address)
            if times is None or len(self._pruned(times)) < self.limit:
                return None
            return max(math.ceil(times[0] + self.window - self.clock()), 1)

    def failed(self, address: str) -> None:
        with self._lock:
            self._pruned(self._failures.setdefault(address, deque())).append(self.clock())
            self._failures.move_to_end(address)
            while len(self._failures) > self.capacity:
                self._failures.popitem(last=False)

    def _pruned(self, times: deque[float]) -> deque[float]:
        while times and times[0] <= self.clock() - self.window:
            times.popleft()
        return times
