"""A Flywheel SDK error as one line: the SDK call, the HTTP request, the status, the message.

The SDK raises `flywheel.ApiException` with the status and the server's message only; the
call and the request are read from the frames of its traceback (the SDK's own method, and
the method and URL its REST client was given). The API key travels in a header, never in
the URL, so it is not in the line.
"""

from __future__ import annotations

from types import TracebackType
from urllib.parse import urlsplit

from gear_common.problems import clean_text


def is_api_exception(error: BaseException) -> bool:
    """Whether `error` is the Flywheel SDK's ApiException (without importing the SDK)."""
    kind = type(error)
    return kind.__name__ == "ApiException" and kind.__module__.split(".")[0] == "flywheel"


def _frames(traceback: TracebackType | None) -> list[tuple[str, str, dict[str, object]]]:
    """(file, function, locals) of each frame, outermost first."""
    frames = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        frames.append((code.co_filename, code.co_name, traceback.tb_frame.f_locals))
        traceback = traceback.tb_next
    return frames


def describe_api_error(error: BaseException) -> str | None:
    """One line for a Flywheel SDK ApiException, or None for any other error."""
    if not is_api_exception(error):
        return None
    frames = _frames(error.__traceback__)
    sdk = [(name, values) for path, name, values in frames if "/flywheel/" in path]
    call = next((name for name, _ in sdk if not name.startswith("_")), None)
    request = next(
        (values for name, values in reversed(sdk) if "method" in values and "url" in values),
        None,
    )
    where = f"the Flywheel API call {call}" if call else "a Flywheel API call"
    if request is not None:
        url = urlsplit(str(request["url"]))
        where += f" ({request['method']} {url.path})"
    status = getattr(error, "status", None)
    message = clean_text(str(getattr(error, "reason", None) or "no message"))
    detail = getattr(error, "detail", None)
    if detail:
        message += f" ({clean_text(str(detail))})"
    return f"{where} failed: {status} {message}"
