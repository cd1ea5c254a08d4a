#!/usr/bin/env python3
"""Drives a running Legnext API (normally `legnext-sim`) through every call of Legnext's
official Python SDK (PyPI `legnext`, pinned to 0.3.0 by scripts/sdk-conformance.sh).

The SDK's requests are by definition accepted by Legnext, and its pydantic models are what
Legnext's own client can read: wherever the SDK cannot talk to the simulator, the simulator
(or our picture of the API) is wrong. So every answer is parsed by the SDK itself, never by
this script; on top of that a few fields are checked.

    conformance.py BASE_URL [--api-key KEY] [--log FILE] [--verbose] [--no-async]

BASE_URL is what the simulator prints, e.g. http://127.0.0.1:40123/api. The SDK's Client
wants it *with* `/api` (its default is https://api.legnext.ai/api and it appends
`/v1/diffusion`, `/account/balance`); a URL without `/api` gets it appended.

Each check prints one line:
    PASS name
    FAIL name: <exception or wrong shape>      (followed by the requests it sent and the answers)
    KNOWN name: <what differs, which we follow> (the SDK and Legnext's docs disagree; not a failure)
then `N passed, M failed` (known differences are counted on the line before). Exit status 1 if
any check failed, 2 if the API cannot be reached at all.

This script starts nothing itself (scripts/sdk-conformance.sh starts the simulator); it
does start a small HTTP receiver on 127.0.0.1 for callbacks (webhooks).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import traceback
from typing import Any, Callable, Optional

import httpx

try:
    import legnext
    from legnext import AsyncClient, Client, JobStatus, PanDirection, TaskType
    from legnext.types import Canvas, CanvasImg, Mask, Polygon
    from legnext.types.errors import (
        AuthenticationError,
        LegnextAPIError,
        NotFoundError,
        ValidationError,
    )
    from legnext.webhook import WebhookHandler, WebhookVerifier
except ImportError as error:  # pragma: no cover
    print(f"FAIL import legnext: {error}")
    print("0 passed, 1 failed")
    sys.exit(1)

VALID_STATUSES = {"pending", "staged", "processing", "completed", "failed"}
IMAGE_KINDS = {
    "diffusion", "variation", "upscale", "reroll", "blend", "pan", "outpaint", "inpaint", "remix",
    "edit", "upload-paint", "retexture", "remove-background", "enhance",
}
VIDEO_KINDS = {"video-diffusion", "extend-video", "video-upscale"}
# A valid 1x1 PNG, sent as inpaint's mask file.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2216a5c0000000049454e44ae426082"
)
POLL = 0.1  # seconds between polls of wait_for_completion (the SDK's default is 3)
WAIT = 60.0  # seconds before wait_for_completion gives up


class ConformanceFailure(Exception):
    """A check's own finding: the SDK parsed the answer, but a field is wrong."""


class KnownDifference(Exception):
    """The simulator refused a request because it follows Legnext's docs where the SDK does not."""


# ---------------------------------------------------------------------------------------------
# Exchange log: every request the SDK sends and every answer, through httpx event hooks on the
# httpx client the SDK would otherwise create itself (HTTPClient._client; same settings).

EXCHANGES: list[dict[str, Any]] = []
LOG_FILE = None


def _text(content: bytes, limit: int = 600) -> str:
    text = content.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(content)} bytes)"


def _record_request(request: httpx.Request) -> None:
    EXCHANGES.append({
        "method": request.method,
        "url": str(request.url),
        "content_type": request.headers.get("content-type", ""),
        "body": _text(request.content) if request.content else "",
    })


def _record_response(response: httpx.Response) -> None:
    entry = EXCHANGES[-1] if EXCHANGES else {}
    entry["status"] = response.status_code
    entry["answer"] = _text(response.content, 900)
    if LOG_FILE:
        LOG_FILE.write(json.dumps(entry) + "\n")
        LOG_FILE.flush()


def _sync_request_hook(request: httpx.Request) -> None:
    request.read()
    _record_request(request)


def _sync_response_hook(response: httpx.Response) -> None:
    response.read()
    _record_response(response)


async def _async_request_hook(request: httpx.Request) -> None:
    await request.aread()
    _record_request(request)


async def _async_response_hook(response: httpx.Response) -> None:
    await response.aread()
    _record_response(response)


def sync_client(base_url: str, api_key: str) -> Client:
    client = Client(api_key=api_key, base_url=base_url, timeout=30.0)
    # The SDK builds exactly this itself (http_client.py, HTTPClient._get_client), minus the hooks.
    client._http._client = httpx.Client(
        timeout=30.0, trust_env=False,
        event_hooks={"request": [_sync_request_hook], "response": [_sync_response_hook]},
    )
    return client


def async_client(base_url: str, api_key: str) -> AsyncClient:
    client = AsyncClient(api_key=api_key, base_url=base_url, timeout=30.0)
    client._http._client = httpx.AsyncClient(
        timeout=30.0, trust_env=False,
        event_hooks={"request": [_async_request_hook], "response": [_async_response_hook]},
    )
    return client


# ---------------------------------------------------------------------------------------------
# Checks

class Results:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self.known = 0
        self.failures: list[str] = []

    def _exchanges(self, since: int, limit: int = 4) -> None:
        shown = EXCHANGES[since:]
        if len(shown) > limit:
            print(f"    … {len(shown) - limit} earlier request(s) of this check not shown")
            shown = shown[-limit:]
        for entry in shown:
            url = entry.get("url", "")
            print(f"    > {entry.get('method')} {url}  [{entry.get('content_type')}]")
            if entry.get("body"):
                print(f"    > {entry['body']}")
            print(f"    < {entry.get('status', 'no answer')} {entry.get('answer', '')}")

    def run(self, name: str, check: Callable[[], Any]) -> Any:
        since = len(EXCHANGES)
        try:
            value = check()
        except Exception as error:  # every exception is a finding (or a known difference)
            return self._not_passed(name, since, error)
        return self._passed(name, since, value)

    async def run_async(self, name: str, check: Callable[[], Any]) -> Any:
        since = len(EXCHANGES)
        try:
            value = await check()
        except Exception as error:
            return self._not_passed(name, since, error)
        return self._passed(name, since, value)

    def _passed(self, name: str, since: int, value: Any) -> Any:
        self.passed += 1
        print(f"PASS {name}")
        if self.verbose:
            self._exchanges(since)
        return value

    def _not_passed(self, name: str, since: int, error: Exception) -> None:
        if isinstance(error, KnownDifference):
            self.known += 1
            print(f"KNOWN {name}: {error}")
            if self.verbose:
                self._exchanges(since)
            return None
        self.failed += 1
        self.failures.append(name)
        print(f"FAIL {name}: {describe_error(error)}")
        self._exchanges(since)
        return None


def describe_error(error: BaseException) -> str:
    if isinstance(error, LegnextAPIError):
        body = json.dumps(error.response_body) if error.response_body is not None else "no JSON body"
        return f"{type(error).__name__} (HTTP {error.status_code}): {error.message}; body {body}"
    text = f"{type(error).__name__}: {error}".replace("\n", "\n    ")
    if isinstance(error, (ConformanceFailure,)):
        return text
    if "pydantic" in type(error).__module__:
        return "the SDK cannot parse the answer: " + text
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    return text + (f" (at {frame.filename}:{frame.lineno})" if frame else "")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceFailure(message)


def check_task(task: Any, kind: str, job_id: Optional[str] = None) -> Any:
    """Fields every Job object must carry, beyond what the SDK's model already enforces."""
    expect(isinstance(task, legnext.TaskResponse), f"not a TaskResponse: {type(task)}")
    expect(bool(task.job_id), "job_id is empty")
    if job_id is not None:
        expect(task.job_id == job_id, f"job_id {task.job_id!r}, asked for {job_id!r}")
    expect(task.status.value in VALID_STATUSES, f"status {task.status!r}")
    expect(task.task_type == TaskType(kind), f"task_type {task.task_type.value!r}, expected {kind!r}")
    expect(task.model == "midjourney", f"model {task.model!r}")
    expect(task.meta is not None and task.meta.created_at is not None, "meta.created_at missing")
    return task


def check_submitted(task: Any, kind: str) -> Any:
    check_task(task, kind)
    # Docs: the POST answers at once with the job in `pending`.
    expect(task.status in (JobStatus.PENDING, JobStatus.STAGED, JobStatus.PROCESSING),
           f"a fresh submission reads {task.status.value!r}")
    return task


def check_completed(task: Any, kind: str, job_id: str) -> Any:
    check_task(task, kind, job_id)
    expect(task.status == JobStatus.COMPLETED, f"status {task.status.value!r}")
    output = task.output
    expect(output is not None, "completed without output")
    if kind in IMAGE_KINDS:
        expect(bool(output.image_urls) or output.image_url is not None, "no output image_urls / image_url")
    elif kind in VIDEO_KINDS:
        expect(bool(output.video_urls), "no output video_urls")
    elif kind == "describe":
        expect(bool(output.description) or bool(output.prompts), "no description / prompts")
    elif kind == "shorten":
        expect(bool(output.prompts) or bool(output.prompt_en), "no prompts")
    usage = task.meta.usage if task.meta else None
    expect(usage is not None, "meta.usage missing")
    expect(usage.consume == usage.frozen and usage.consume > 0,
           f"usage frozen {usage.frozen}, consume {usage.consume} on completion")
    expect(task.meta.ended_at is not None and task.meta.ended_at >= task.meta.created_at,
           "meta.ended_at missing or before created_at")
    return task


def refused_as_documented(error: BaseException, *words: str) -> bool:
    """A 4xx refusal that names what the docs and the SDK disagree on (one of `words`, or an
    unsupported content type): what the simulator answers if it follows the docs, not the SDK.
    Any other refusal (say "remixPrompt must be a string") is a plain failure."""
    if not isinstance(error, LegnextAPIError) or not 400 <= error.status_code < 500:
        return False
    if error.status_code == 415:
        return True
    body = error.response_body if isinstance(error.response_body, dict) else {}
    nested = body.get("error") if isinstance(body.get("error"), dict) else {}
    text = " ".join(str(x) for x in (body.get("message"), body.get("raw_message"), nested.get("message"),
                                      error.message)).lower()
    return any(word in text for word in words)


def api_message(error: LegnextAPIError) -> str:
    """The server's own message: the SDK's exception text is "HTTP 400: Bad Request" for the
    documented top-level error body (see "error body message" below)."""
    body = error.response_body if isinstance(error.response_body, dict) else {}
    nested = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(nested.get("message") or body.get("message") or error.message)


# What a refusal must mention to be the known difference and not a failure.
PAN_WORDS = ("direction",)
INPAINT_WORDS = ("mask", "multipart", "json", "content-type", "content type", "form")


# ---------------------------------------------------------------------------------------------
# Callback receiver (webhooks)

class CallbackReceiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, job_id: str, status: str, timeout: float = 8.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                mine = [(h, b) for h, b in self.received if job_id.encode() in b]
            if any(f'"status":"{status}"'.encode() in b.replace(b" ", b"") for _, b in mine):
                return mine
            time.sleep(0.05)
        with self.lock:
            return [(h, b) for h, b in self.received if job_id.encode() in b]

    def close(self) -> None:
        self.server.shutdown()


# ---------------------------------------------------------------------------------------------
# The sync client: every call the SDK has

def run_sync(base_url: str, api_key: str, results: Results, receiver: CallbackReceiver, webhook_secret: str | None) -> None:
    client = sync_client(base_url, api_key)
    mj = client.midjourney
    r = results.run

    def balance() -> Any:
        b = client.account.balance()
        expect(isinstance(b.account_id, int), f"account_id {b.account_id!r}")
        expect(isinstance(b.available_points, int) and b.available_points >= 0,
               f"available_points {b.available_points!r}")
        expect(b.balance_usd is not None, "balance_usd missing")
        return b
    r("account.balance", balance)
    # The SDK has no account info / active tasks call (account.py holds only balance()); the
    # OpenAPI file's GET /account/info and /account/active_tasks are not covered here.

    wait = lambda job_id: client.tasks.wait_for_completion(job_id, timeout=WAIT, poll_interval=POLL)  # noqa: E731
    completed: dict[str, Any] = {}

    def submit_and_wait(name: str, kind: str, submit: Callable[[], Any], known: Optional[str] = None,
                        known_words: tuple[str, ...] = ()) -> Any:
        """Two checks: the submission, then the job read back until it completes."""
        def submission() -> Any:
            try:
                return check_submitted(submit(), kind)
            except LegnextAPIError as error:
                if known and refused_as_documented(error, *known_words):
                    raise KnownDifference(f"{known} (simulator: HTTP {error.status_code} {api_message(error)})")
                raise
        task = r(name, submission)
        if task is None:
            return None
        done = r(f"{name} completes", lambda: check_completed(wait(task.job_id), kind, task.job_id))
        if done is not None:
            completed[name] = done
        return done

    # --- diffusion, tasks.get, wait_for_completion ------------------------------------------
    first = r("midjourney.diffusion", lambda: check_submitted(
        mj.diffusion(text="a lighthouse at dawn, oil painting --ar 16:9 --v 7"), "diffusion"))
    if first is None:
        print("(no diffusion job: the follow-up checks cannot run)")
        client.close()
        return
    r("tasks.get", lambda: check_task(client.tasks.get(first.job_id), "diffusion", first.job_id))
    seen: list[str] = []

    def waited() -> Any:
        task = client.tasks.wait_for_completion(
            first.job_id, timeout=WAIT, poll_interval=POLL, on_progress=lambda t: seen.append(t.status.value))
        check_completed(task, "diffusion", first.job_id)
        expect(len(task.output.image_urls or []) == 4, f"{len(task.output.image_urls or [])} image_urls, expected 4")
        expect(task.output.seed is not None, "no seed")
        expect(bool(task.output.available_actions), "no available_actions")
        return task
    parent = r("tasks.wait_for_completion", waited)
    r("tasks.get completed", lambda: check_completed(client.tasks.get(first.job_id), "diffusion", first.job_id))
    if parent is None:
        print("(diffusion never completed: the follow-up checks cannot run)")
        client.close()
        return
    pid = parent.job_id
    image_url = str(parent.output.image_urls[0])
    other_url = str(parent.output.image_urls[1])

    # --- follow-ups of the completed diffusion ------------------------------------------------
    # Optional fields the caller leaves out go out as JSON null (`"remixPrompt": null`,
    # `"callback": null`): MidjourneyMixin._prepare_request_data dumps with exclude_none=False
    # for every endpoint but edit, video_diffusion and extend_video.
    submit_and_wait("midjourney.variation", "variation", lambda: mj.variation(job_id=pid, image_no=0, type=0))
    submit_and_wait("midjourney.variation remix_prompt", "variation",
                    lambda: mj.variation(job_id=pid, image_no=1, type=1, remix_prompt="in winter"))
    submit_and_wait("midjourney.upscale", "upscale", lambda: mj.upscale(job_id=pid, image_no=2, type=0))
    submit_and_wait("midjourney.reroll", "reroll", lambda: mj.reroll(job_id=pid))

    # Pan: Legnext's docs site, both OpenAPI files and the n8n node number directions 0 down,
    # 1 right, 2 up, 3 left; the SDK's PanDirection enum says UP=0, DOWN=1, LEFT=2, RIGHT=3.
    # We follow the docs. The simulator cannot tell which one a caller meant (both are 0-3),
    # so this passes unless the simulator refuses the number; a refusal is the known difference.
    pan_known = ("pan direction: the SDK's PanDirection.UP is 0, which Legnext's docs read as 'down' "
                 "(docs: 0 down, 1 right, 2 up, 3 left; we follow the docs)")

    def pan() -> Any:
        try:
            task = check_submitted(
                mj.pan(job_id=pid, image_no=0, direction=PanDirection.UP, scale=1.5), "pan")
        except LegnextAPIError as error:
            if refused_as_documented(error, *PAN_WORDS):
                raise KnownDifference(f"{pan_known} (simulator: HTTP {error.status_code} {api_message(error)})")
            raise
        echoed = (client.tasks.get(task.job_id).input or {}).get("direction")
        expect(echoed == 0, f"input.direction echoed as {echoed!r}, sent 0")
        return task
    pan_task = r("midjourney.pan", pan)
    if pan_task is not None:
        print("#   pan: accepted direction=PanDirection.UP (0); Legnext's docs read 0 as 'down', the SDK as 'up'")
    if pan_task is not None:
        done = r("midjourney.pan completes", lambda: check_completed(wait(pan_task.job_id), "pan", pan_task.job_id))
        if done is not None:
            completed["midjourney.pan"] = done
    submit_and_wait("midjourney.outpaint", "outpaint", lambda: mj.outpaint(job_id=pid, image_no=1, scale=1.3))

    # Inpaint: Legnext's docs site and OpenAPI file describe a JSON body with
    # mask {"areas": [{width, height, points}]} or {"url": …}; the SDK sends multipart/form-data
    # (fields jobId, imageNo as the text "0", a file part `mask`). We follow the docs (JSON);
    # the simulator accepts both, and a refusal of the SDK's multipart is the known difference.
    submit_and_wait(
        "midjourney.inpaint", "inpaint",
        lambda: mj.inpaint(job_id=pid, image_no=0, mask=TINY_PNG, remix_prompt="a red door"),
        known="inpaint body: the SDK sends multipart with a mask file, Legnext's docs/OpenAPI a JSON body "
              "with mask {areas:[{width,height,points}]} or {url} (we follow the docs)",
        known_words=INPAINT_WORDS)
    if "midjourney.inpaint" in completed:
        print("#   inpaint: the SDK's multipart body (mask as a file) was accepted; the docs' JSON body is another shape")
    submit_and_wait("midjourney.remix", "remix",
                    lambda: mj.remix(job_id=pid, image_no=0, remix_prompt="as a watercolor", mode=1))
    submit_and_wait("midjourney.remix no mode", "remix",
                    lambda: mj.remix(job_id=pid, image_no=3, remix_prompt="as a pencil sketch"))
    area = Polygon(width=1024, height=1024, points=[100, 100, 500, 100, 500, 500, 100, 500])
    submit_and_wait("midjourney.edit", "edit", lambda: mj.edit(
        job_id=pid, image_no=0, canvas=Canvas(width=1024, height=1024),
        img_pos=CanvasImg(width=512, height=512, x=256, y=256), remix_prompt="add a sunset sky",
        mask=Mask(areas=[area])))
    submit_and_wait("midjourney.edit no mask", "edit", lambda: mj.edit(
        job_id=pid, image_no=1, canvas=Canvas(width=1024, height=1024),
        img_pos=CanvasImg(width=1024, height=1024, x=0, y=0), remix_prompt="a calmer sea"))

    # Enhance wants a draft-mode (`--v 7 --draft`) parent.
    draft = submit_and_wait("midjourney.diffusion draft", "diffusion",
                            lambda: mj.diffusion(text="a fox in the snow --v 7 --draft"))
    if draft is not None:
        submit_and_wait("midjourney.enhance", "enhance", lambda: mj.enhance(job_id=draft.job_id, image_no=0))

    # --- image endpoints without a parent job ---------------------------------------------------
    submit_and_wait("midjourney.blend", "blend", lambda: mj.blend(img_urls=[image_url, other_url], aspect_ratio="1:1"))
    submit_and_wait("midjourney.describe", "describe", lambda: mj.describe(img_url=image_url))
    submit_and_wait("midjourney.shorten", "shorten", lambda: mj.shorten(
        prompt="a very detailed, highly intricate, ultra realistic painting of a lighthouse at dawn, "
               "with dramatic clouds, golden light and crashing waves, trending on artstation"))
    # upload_paint dumps with exclude_none=False: mask goes out as {"areas": […], "url": null}.
    submit_and_wait("midjourney.upload_paint", "upload-paint", lambda: mj.upload_paint(
        img_url=image_url, canvas=Canvas(width=1024, height=1024),
        img_pos=CanvasImg(width=768, height=768, x=128, y=128), remix_prompt="paint a beautiful sky",
        mask=Mask(areas=[Polygon(width=1024, height=1024, points=[0, 0, 1024, 0, 1024, 512, 0, 512])])))
    submit_and_wait("midjourney.retexture", "retexture",
                    lambda: mj.retexture(img_url=image_url, remix_prompt="marble texture"))
    submit_and_wait("midjourney.remove_background", "remove-background",
                    lambda: mj.remove_background(img_url=image_url))

    # --- video -------------------------------------------------------------------------------
    # The SDK's video_diffusion takes only a prompt "<image url> text" (no jobId/imageNo form).
    video = submit_and_wait("midjourney.video_diffusion", "video-diffusion",
                            lambda: mj.video_diffusion(prompt=f"{image_url} the waves roll in", video_type=1))
    submit_and_wait("midjourney.video_diffusion no video_type", "video-diffusion",
                    lambda: mj.video_diffusion(prompt=f"{other_url} slow zoom out"))
    if video is not None:
        submit_and_wait("midjourney.extend_video", "extend-video",
                        lambda: mj.extend_video(job_id=video.job_id, video_no=0, prompt="the storm arrives"))
        submit_and_wait("midjourney.extend_video no prompt", "extend-video",
                        lambda: mj.extend_video(job_id=video.job_id, video_no=1))
        submit_and_wait("midjourney.video_upscale", "video-upscale",
                        lambda: mj.video_upscale(job_id=video.job_id, video_no=0))

    # --- errors, as the SDK maps them ---------------------------------------------------------
    def unknown_job() -> None:
        try:
            client.tasks.get("00000000-0000-4000-a000-000000000000")
        except NotFoundError:
            return
        raise ConformanceFailure("GET /v1/job/<unknown id> did not raise NotFoundError")
    r("tasks.get unknown job -> NotFoundError", unknown_job)

    def wrong_key() -> None:
        bad = sync_client(base_url, "not-the-key")
        try:
            bad.account.balance()
        except AuthenticationError:
            return
        finally:
            bad.close()
        raise ConformanceFailure("a wrong API key did not raise AuthenticationError")
    r("wrong api key -> AuthenticationError", wrong_key)

    def unknown_parent() -> None:
        try:
            mj.upscale(job_id="00000000-0000-4000-a000-000000000000", image_no=0, type=0)
        except ValidationError:  # HTTP 400
            return
        except LegnextAPIError as error:
            raise ConformanceFailure(f"HTTP {error.status_code} for an unknown parent job, expected 400")
        raise ConformanceFailure("a follow-up of an unknown job was accepted")
    r("upscale of unknown job -> ValidationError", unknown_parent)

    def refused_403() -> None:
        try:
            mj.diffusion(text="something forbidden sim:reject=403")
        except LegnextAPIError as error:
            expect(error.status_code == 403, f"HTTP {error.status_code}, expected 403")
            return
        raise ConformanceFailure("sim:reject=403 was accepted (is this the simulator?)")
    r("diffusion refused 403 -> LegnextAPIError", refused_403)

    # Error bodies: Legnext's docs show {"code", "message", "raw_message", "detail"} at top level,
    # which the simulator answers; the SDK's BaseHTTPClient._parse_error reads only
    # {"error": {code, message, …}}, so its exceptions carry "HTTP 404: Not Found" instead of the
    # message (the body is still in .response_body). We follow the docs.
    def error_message() -> None:
        try:
            client.tasks.get("00000000-0000-4000-a000-000000000000")
        except LegnextAPIError as error:
            body = error.response_body or {}
            if isinstance(body, dict) and "error" in body:
                expect(error.message == body["error"].get("message"), "message not taken from error.message")
                return
            expect(isinstance(body, dict) and "message" in body, f"error body without message: {body!r}")
            if error.message != body["message"]:
                raise KnownDifference(
                    "error body: Legnext's docs show {code,message,raw_message,detail} at top level (the "
                    "simulator's shape, we follow the docs); the SDK reads only {error:{…}}, so its "
                    f"exception says {error.message!r} instead of {body['message']!r}")
            return
        raise ConformanceFailure("no error raised")
    r("error body message", error_message)

    def failed_job() -> None:
        task = check_submitted(mj.diffusion(text="a doomed prompt sim:fail"), "diffusion")
        try:
            wait(task.job_id)
        except LegnextAPIError as error:
            # tasks.py _validate_task_response: a failed job raises with task.error.
            expect(error.error is not None and error.error.code != 0 and bool(error.error.message),
                   f"failed job's error object {error.error!r}")
            failed = client.tasks.get(task.job_id)
            check_task(failed, "diffusion", task.job_id)
            expect(failed.status == JobStatus.FAILED, f"status {failed.status.value}")
            return
        raise ConformanceFailure("sim:fail job completed (is this the simulator?)")
    r("failed job -> wait_for_completion raises, error parsed", failed_job)

    # --- webhooks ------------------------------------------------------------------------------
    run_webhooks(client, results, receiver, webhook_secret)
    client.close()


def run_webhooks(client: Client, results: Results, receiver: CallbackReceiver, webhook_secret: str | None) -> None:
    r = results.run
    secret = "whsec-conformance"
    body = json.dumps({"job_id": "x", "status": "completed"}).encode()
    timestamp = str(int(time.time()))

    # WebhookVerifier.verify: hex HMAC-SHA256 with the secret over `timestamp + "." + body` when a
    # timestamp (X-Legnext-Timestamp) is given, else over the body alone.
    def verifier() -> None:
        v = WebhookVerifier(webhook_secret=secret)
        with_ts = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        without = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        expect(v.verify(body, with_ts, timestamp), "timestamped signature not accepted")
        expect(v.verify(body, without), "body-only signature not accepted")
        expect(not v.verify(body, without, timestamp), "body-only signature accepted with a timestamp")
        expect(not v.verify(body + b" ", with_ts, timestamp), "signature of another body accepted")
    r("webhook.WebhookVerifier", verifier)

    # A real callback from the simulator, read by the SDK's WebhookHandler.
    state: dict[str, Any] = {}

    def callback_job() -> Any:
        task = check_submitted(
            client.midjourney.diffusion(text="a harbor at night", callback=receiver.url), "diffusion")
        expect(task.config is not None and task.config.webhook_config is not None
               and str(task.config.webhook_config.endpoint) == receiver.url,
               f"config.webhook_config.endpoint {task.config and task.config.webhook_config!r}")
        check_completed(client.tasks.wait_for_completion(task.job_id, timeout=WAIT, poll_interval=POLL),
                        "diffusion", task.job_id)
        calls = receiver.wait_for(task.job_id, "completed")
        expect(bool(calls), f"no callback reached {receiver.url}")
        state["calls"] = calls
        return task
    job = r("diffusion with callback -> callback delivered", callback_job)
    if job is None:
        return

    def handler_reads() -> None:
        handler = WebhookHandler(webhook_secret=secret)
        got: list[str] = []
        handler.on_any(lambda t: got.append(t.status.value))
        for headers, payload in state["calls"]:
            handler.handle(payload, headers.get("x-legnext-signature", ""),
                           headers.get("x-legnext-timestamp"), verify_signature=False)
        expect("completed" in got, f"callbacks read as {got}, no 'completed'")
    r("webhook.WebhookHandler parses the callbacks", handler_reads)

    # Signed callbacks: the SDK's handler verifies X-Legnext-Signature by default, with the secret of
    # the account's webhook settings (the simulator's --webhook-secret-file, passed here the same way).
    def signed() -> None:
        if webhook_secret is None:
            raise KnownDifference("callback signature: not checked (no --webhook-secret-file given, so the simulator signs nothing)")
        unsigned = [h for h, _ in state["calls"] if "x-legnext-signature" not in h or "x-legnext-timestamp" not in h]
        expect(not unsigned, f"{len(unsigned)} of {len(state['calls'])} callbacks without X-Legnext-Signature / X-Legnext-Timestamp")
        handler = WebhookHandler(webhook_secret=webhook_secret)
        got: list[str] = []
        handler.on_any(lambda t: got.append(t.status.value))
        for headers, payload in state["calls"]:
            # verify_signature=True (the default): raises ValueError on a wrong signature.
            handler.handle(payload, headers["x-legnext-signature"], headers["x-legnext-timestamp"])
        expect("completed" in got, f"signed callbacks read as {got}")
        other = WebhookVerifier(webhook_secret + "-other")
        expect(not any(other.verify(b, h["x-legnext-signature"], h["x-legnext-timestamp"]) for h, b in state["calls"]),
               "a callback verifies with another secret")
    r("webhook callbacks signed", signed)


# ---------------------------------------------------------------------------------------------
# The async client: the same HTTP layer in its async form; a representative subset.

async def run_async(base_url: str, api_key: str, results: Results) -> None:
    client = async_client(base_url, api_key)
    mj = client.midjourney
    r = results.run_async

    async def balance() -> Any:
        b = await client.account.balance()
        expect(isinstance(b.account_id, int), f"account_id {b.account_id!r}")
        return b
    await r("async account.balance", balance)

    async def submit() -> Any:
        return check_submitted(await mj.diffusion(text="a quiet library --v 7"), "diffusion")
    first = await r("async midjourney.diffusion", submit)
    if first is None:
        await client.aclose()
        return
    await r("async tasks.get", lambda: _then(client.tasks.get(first.job_id),
                                               lambda t: check_task(t, "diffusion", first.job_id)))
    parent = await r("async tasks.wait_for_completion", lambda: _then(
        client.tasks.wait_for_completion(first.job_id, timeout=WAIT, poll_interval=POLL),
        lambda t: check_completed(t, "diffusion", first.job_id)))
    if parent is not None:
        pid = parent.job_id
        await r("async midjourney.variation", lambda: _then(
            mj.variation(job_id=pid, image_no=0, type=1), lambda t: check_submitted(t, "variation")))

        async def inpaint() -> Any:
            try:
                return check_submitted(await mj.inpaint(job_id=pid, image_no=1, mask=TINY_PNG), "inpaint")
            except LegnextAPIError as error:
                if refused_as_documented(error, *INPAINT_WORDS):
                    raise KnownDifference(f"inpaint body: multipart refused (simulator: HTTP {error.status_code} {api_message(error)})")
                raise
        await r("async midjourney.inpaint", inpaint)
        await r("async midjourney.upscale", lambda: _then(
            mj.upscale(job_id=pid, image_no=3, type=1), lambda t: check_submitted(t, "upscale")))
    await r("async midjourney.video_diffusion", lambda: _then(
        mj.video_diffusion(prompt="https://example.com/a.png drifting clouds"),
        lambda t: check_submitted(t, "video-diffusion")))
    await client.aclose()


async def _then(awaitable: Any, check: Callable[[Any], Any]) -> Any:
    return check(await awaitable)


# ---------------------------------------------------------------------------------------------

def main() -> int:
    global LOG_FILE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:40123/api (as legnext-sim prints it)")
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--log", help="write every request and answer as JSON lines to this file")
    parser.add_argument("--verbose", action="store_true", help="show the requests of passing checks too")
    parser.add_argument("--no-async", action="store_true", help="skip the AsyncClient checks")
    parser.add_argument("--webhook-secret-file", help="the secret the simulator signs callbacks with (its --webhook-secret-file)")
    args = parser.parse_args()

    base_url = args.base_url.rstrip("/")
    if not base_url.endswith("/api"):
        base_url += "/api"  # the SDK's paths are relative to …/api
    root = base_url[: -len("/api")]
    if args.log:
        LOG_FILE = open(args.log, "w", encoding="utf-8")

    try:
        httpx.get(f"{base_url}/account/balance", headers={"x-api-key": args.api_key}, timeout=10, trust_env=False)
    except httpx.HTTPError as error:
        print(f"FAIL reach {base_url}: {error}")
        print("0 passed, 1 failed")
        return 2

    print(f"# legnext SDK {legnext.__version__} against {base_url}")
    results = Results(args.verbose)
    receiver = CallbackReceiver()
    try:
        secret = None
        if args.webhook_secret_file:
            with open(args.webhook_secret_file, encoding="utf-8") as file:
                secret = file.read().strip()
        run_sync(base_url, args.api_key, results, receiver, secret)
        if not args.no_async:
            asyncio.run(run_async(base_url, args.api_key, results))
    finally:
        receiver.close()

    try:  # the simulator's ledger, when it is the simulator
        stats = httpx.get(f"{root}/_sim/stats", timeout=10, trust_env=False).json()
        refusals = {route: {s: n for s, n in by.items() if s != "200"}
                    for route, by in stats.get("requests", {}).items()}
        refusals = {route: by for route, by in refusals.items() if by}
        print(f"# simulator: {stats.get('requests_total')} requests, {stats.get('jobs_created')} jobs, "
              f"non-200 answers by route: {json.dumps(refusals, sort_keys=True)}")
    except Exception:
        pass
    if results.known:
        print(f"{results.known} known difference(s) between the SDK and Legnext's docs (not failures)")
    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
