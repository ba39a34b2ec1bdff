#!/usr/bin/env bash
# Lints what deploy/ ships and what the agent exports, with promtool from
# Debian's prometheus package (apt-get install -y prometheus):
#   - promtool check rules on prometheus/dorivo-rules.yml;
#   - every PromQL expression of grafana/dorivo-node.json, as recording rules;
#   - promtool check metrics on userspace/collect's exposition on this
#     machine, or on a running agent's /metrics when given its URL:
#       bash deploy/check.sh http://127.0.0.1:9379/metrics
# Without promtool it fails (CI=true or not): nothing was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "check.sh: promtool missing (apt-get install -y prometheus)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules deploy/prometheus/dorivo-rules.yml

python3 - deploy/grafana/dorivo-node.json >"$tmp/dash-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])] + [a["expr"] for a in d["annotations"]["list"]]
print("groups:\n- name: dashboard\n  rules:")
for i, e in enumerate(exprs):
    e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
    print(f"  - record: dashboard:expr{i}\n    expr: {json.dumps(e)}")
PY
echo "dashboard expressions:"
promtool check rules "$tmp/dash-rules.yml"

if [ $# -gt 0 ]; then
	curl -fsS "$1" >"$tmp/metrics.txt"
else
	# DATA_DIR picks the directory whose disk is exported (default: the temp dir).
	go run ./userspace/collect/internal/dumpmetrics ${DATA_DIR:+-data-dir "$DATA_DIR"} >"$tmp/metrics.txt"
fi
promtool check metrics <"$tmp/metrics.txt"
echo "metrics: $(grep -vc '^#' "$tmp/metrics.txt") series in $(grep -c '^# TYPE' "$tmp/metrics.txt") families pass promtool check metrics"
