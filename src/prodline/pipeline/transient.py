"""Which errors are worth trying again: a connection that dropped, a server that did not answer, a
file lock held by another process. Everything else (a bad file, wrong SQL, a refused model) fails
the same way each time, and is reported at once instead of after the retries' waits."""

# Exception class names, wherever they live: importing every driver here to name its classes would
# make this module load them all.
TRANSIENT = {
    "OperationalError",  # SQLAlchemy and psycopg2: the server went away, refused, or timed out
    "InterfaceError",  # psycopg2: the connection is already closed
    "DisconnectionError",
    "ConnectionError",  # the builtin and its kin; requests (MLflow over HTTP)
    "ConnectionResetError",
    "ConnectionRefusedError",
    "BrokenPipeError",
    "TimeoutError",
    "SMTPServerDisconnected",
    "SMTPConnectError",
}
NOT_TRANSIENT_TEXT = ("syntax error", "does not exist", "permission denied", "read-only")


def is_transient(error: BaseException) -> bool:
    """True if the error, or one it was raised from, is of a kind that a retry can cure."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names = {cls.__name__ for cls in type(error).__mro__}
        text = str(error).lower()
        if names & TRANSIENT and not any(t in text for t in NOT_TRANSIENT_TEXT):
            return True
        if "IOException" in names and "lock" in text:  # DuckDB: another process holds the file
            return True
        error = error.__cause__ or error.__context__
    return False
