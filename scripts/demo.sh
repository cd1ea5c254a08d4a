#!/usr/bin/env bash
# The main job out of the box: a few sample prompts drained by the daemon against the built-in
# Legnext simulator (no key, nothing leaves this machine), with progress and where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
swift build --product legnext-queue
bin="$(swift build --show-bin-path)/legnext-queue"
db="${LEGNEXT_QUEUE_DB:-demo/queue.db}"
mkdir -p "$(dirname "$db")"
rm -rf "$db" "$db-wal" "$db-shm" "$(dirname "$db")/outputs"

echo "== enqueue the sample prompts into $db"
first=$("$bin" --db "$db" enqueue --file scripts/sample-prompts.jsonl --tag demo | head -n 1)
# A follow-up: upscale image 2 of the first job once it has completed.
"$bin" --db "$db" enqueue --kind upscale --parent "$first" --param imageNo=2 --param type=0 --tag demo >/dev/null
"$bin" --db "$db" status

echo
echo "== run the daemon against the simulator until the queue is drained"
"$bin" --db "$db" run --simulate --exit-when-idle --concurrency 3 --rate 5

echo
echo "== results"
"$bin" --db "$db" list --limit 20
echo
sqlite3 -header -column "$db" "SELECT job_id, tag, kind, idx, download_state, path FROM outputs WHERE kind = 'image' LIMIT 8"
echo
echo "== the downloaded files (the simulator's images are small generated PNGs)"
find "$(dirname "$db")/outputs" -type f | sort | head -n 12

# The web console over the demo's queue: the gallery shows the images just downloaded.
listen="${LEGNEXT_DEMO_UI:-127.0.0.1:8080}"
echo
if [ -t 0 ] && [ -t 1 ]; then
    echo "== the web console: http://$listen/ (the images: http://$listen/gallery); Ctrl-C stops it"
    exec "$bin" --db "$db" ui --listen "$listen"
else
    echo "== the web console: run  $bin --db $db ui --listen $listen  and open http://$listen/gallery"
fi
