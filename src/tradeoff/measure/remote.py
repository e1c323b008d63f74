"""The client of a target's cost agent (``tradeoff agent``): the same measurement, over HTTP.

:func:`measure_on_target` sends an ONNX model and a :class:`MeasureSpec` to an agent and
returns the :class:`Measurement` it measured there, ``where`` naming the agent. Connection
failures and 5xx answers are retried with exponential back-off, a full queue (503) after
its ``Retry-After``; a target still not answering raises :class:`TargetUnreachable`.
The token comes from a file or ``TRADEOFF_TARGET_TOKEN`` and is sent as a bearer token.
Standard library only (urllib), so the client adds no dependency.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from tradeoff.errors import TradeoffError
from tradeoff.measure.candidate import Measurement, MeasureSpec

TOKEN_ENV = "TRADEOFF_TARGET_TOKEN"


class TargetUnreachable(TradeoffError):
    """A target's agent did not answer after every retry."""


class TargetRejected(TradeoffError):
    """The agent refused or could not measure this model (HTTP 413/422); ``limit`` names a
    broken time or memory cap, ``None`` for any other reason."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Target:
    """A target machine's agent: its URL, the token to send, how hard to retry."""

    url: str
    token: str | None = None
    attempts: int = 5
    backoff_s: float = 0.5  # doubled after each failed attempt
    busy_wait_s: float = 900.0  # how long a full queue (503) is waited out, all retries together
    timeout_s: float = 900.0
    _info: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise TradeoffError(f"--agent: {self.url!r} is not an http(s):// URL of an agent")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def info(self) -> dict:
        """The agent's ``GET /info`` (fetched once per Target)."""
        if not self._info:
            self._info.update(self._call("GET", "/info"))
        return dict(self._info)

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay, failures, busy_until, last = (
            self.backoff_s,
            0,
            time.monotonic() + self.busy_wait_s,
            "",
        )
        while True:
            request = urllib.request.Request(
                self.url + path, data=data, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as error:
                detail, body = _detail(error)
                if error.code == 401:
                    raise TradeoffError(
                        f"target {self.url}: the agent refused the token (401); give "
                        f"--agent-token-file or set {TOKEN_ENV}"
                    ) from None
                if error.code in (413, 422):
                    raise TargetRejected(
                        f"target {self.url}: {detail}", body.get("limit")
                    ) from None
                if error.code == 503 and time.monotonic() < busy_until:
                    wait = float(error.headers.get("Retry-After") or delay)
                    time.sleep(min(max(wait, 0.1), 30.0))
                    continue
                if error.code < 500:
                    raise TradeoffError(f"target {self.url}: HTTP {error.code}: {detail}") from None
                last = f"HTTP {error.code}: {detail}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
                last = str(getattr(error, "reason", error))
            failures += 1
            if failures >= self.attempts:
                raise TargetUnreachable(
                    f"target {self.url}: not answering after {failures} tries ({last})"
                )
            time.sleep(delay)
            delay *= 2


def _detail(error: urllib.error.HTTPError) -> tuple[str, dict]:
    try:
        body = json.loads(error.read() or b"{}")
    except (json.JSONDecodeError, OSError):
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    return (str(detail) if detail else error.reason or "no detail"), (
        body if isinstance(body, dict) else {}
    )


def resolve_token(token_file: str | os.PathLike | None) -> str | None:
    """The token for targets: from ``token_file``, else ``TRADEOFF_TARGET_TOKEN``, else none."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise TradeoffError(f"--agent-token-file: cannot read {token_file} ({error})") from None
        if not token:
            raise TradeoffError(f"--agent-token-file: {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def targets_from(urls: list[str] | None, token_file: str | os.PathLike | None) -> list[Target]:
    """One :class:`Target` per ``--agent`` URL (duplicates dropped), sharing one token."""
    if not urls:
        return []
    token = resolve_token(token_file)
    return [Target(url, token) for url in dict.fromkeys(urls)]


def measure_on_target(target: Target, onnx_bytes: bytes, spec: MeasureSpec) -> Measurement:
    """Measure ``onnx_bytes`` on ``target``: the agent's fresh-process measurement there."""
    payload = spec.to_dict()
    payload["model_b64"] = base64.b64encode(onnx_bytes).decode()
    answer = target._call("POST", "/measure", payload)
    answer.pop("agent_version", None)
    answer["where"] = f"agent {target.url}"
    return Measurement.from_dict(answer)
