"""The batch an operator would otherwise write around Legnext's official Python SDK.

C jobs at once (a pool of C threads), each submitted with `midjourney.diffusion` and followed
with `tasks.wait_for_completion` at the given poll interval (the SDK's default is 3 s). The SDK
retries 429 and 5xx answers itself. `legnext-bench --only peers` runs this beside legnext-queue
on the same simulator and seed; it prints one line: seconds taken, then jobs completed.

    LEGNEXT_API_KEY=... python sdk_batch.py BASE_URL COUNT CONCURRENCY POLL_SECONDS
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from legnext import Client


def main() -> int:
    base_url, count, concurrency, poll = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    client = Client(api_key=os.environ["LEGNEXT_API_KEY"], base_url=base_url, timeout=60.0)

    def one(index: int) -> str:
        task = client.midjourney.diffusion(text=f"peers prompt {index} --ar 3:2")
        done = client.tasks.wait_for_completion(task.job_id, timeout=3600, poll_interval=poll)
        return done.status.value

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(one, range(count)))
    print(f"{time.monotonic() - started:.3f} {statuses.count('completed')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
