#!/usr/bin/env bash
# Checks contrib/monitoring against the daemon as built: the alert rules parse and pass their
# unit tests (`promtool check rules`, `promtool test rules`; Debian's `prometheus` package ships
# promtool and is installed when missing: no promtool is a failure, never a skip), and every
# metric the rules and the Grafana dashboard name is one a real daemon exports on /metrics
# (the daemon is started on the shipped example config, with the bundled simulator).
# Usage: contrib/monitoring/check.sh   (from anywhere; bounded: the daemon gets 120 s to answer)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v promtool >/dev/null; then
  echo "check.sh: installing promtool (Debian package prometheus)" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends prometheus
fi
command -v promtool >/dev/null || { echo "check.sh: promtool is not installed" >&2; exit 1; }

promtool check rules "$here/alerts.yml"
(cd "$here" && promtool test rules alerts.test.yml)

# The families a real daemon exports.
(cd "$repo" && cargo build -q --bin smime-provisioner)
bin="$repo/target/debug/smime-provisioner"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed -e "s|^\[http\]\$|[http]\nlisten = \"127.0.0.1:$port\"\npush_token_env = \"SMIME_PUSH_TOKEN\"|" \
  "$repo/config.example.toml" > "$work/config.toml"
grep -q "^listen = \"127.0.0.1:$port\"" "$work/config.toml" || { echo "check.sh: cannot set http.listen" >&2; exit 1; }
mkdir -p "$work/var/mail/example.com/alice"
SMIME_PUSH_TOKEN=check-sh-push-token-0123456789 "$bin" --config "$work/config.toml" run \
  2> "$work/daemon.log" &
pid=$!
page="$work/metrics.txt"
for _ in $(seq 1 240); do
  if python3 - "$port" "$page" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read()
open(sys.argv[2], "wb").write(body)
PY
  kill -0 "$pid" 2>/dev/null || { echo "check.sh: the daemon exited" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }
  sleep 0.5
done
[ -s "$page" ] || { echo "check.sh: no /metrics within 120 s" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }

python3 - "$page" "$here/alerts.yml" "$here/grafana-dashboard.json" <<'PY'
import json, re, sys
page, rules, dashboard = sys.argv[1:4]
exported = set()
for line in open(page):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        name, kind = m.groups()
        exported.add(name)
        if kind == "histogram":
            exported.update(name + s for s in ("_bucket", "_sum", "_count"))
if len(exported) < 20:
    sys.exit(f"check.sh: the daemon exported only {sorted(exported)}")
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str):
                exprs.append(("dashboard", x))
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(json.load(open(dashboard)))
for line in open(rules):
    if "smime_provisioner_" in line and not line.lstrip().startswith("#"):
        exprs.append(("alerts.yml", line))
unknown = sorted({(where, n) for where, e in exprs
                  for n in re.findall(r"smime_provisioner_[a-z0-9_]+", e) if n not in exported})
if unknown:
    sys.exit("check.sh: names the daemon does not export: " + ", ".join(f"{n} ({w})" for w, n in unknown))
used = {n for _, e in exprs for n in re.findall(r"smime_provisioner_[a-z0-9_]+", e)}
print(f"check.sh: {len(exprs)} expressions name {len(used)} metrics, all exported ({len(exported)} names on /metrics)")
PY
