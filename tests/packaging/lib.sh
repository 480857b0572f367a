# Shared by the packaging checks: counting, and the checks every rendered
# release gets. Source after setting: here (this directory), tools
# (build/tools), work (a scratch directory), lameduck (the binary).
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# check_rendered NAME FILE [MODE]: FILE (manifests with the sidecar) is valid
# against the Kubernetes schemas, keeps the sidecar's promises (in MODE,
# native or classic, when given), and its lameduck.yaml passes
# `lameduck check-config` in the environment the pod gives the sidecar.
check_rendered() {
  local name="$1" file="$2" mode="${3:-}"
  if node "$here/validate-k8s.mjs" "$tools" "$file" >"$work/validate.txt"; then
    pass "$name: $(grep -c '^ok' "$work/validate.txt") objects valid against the Kubernetes schemas"
  else
    fail "$name: schema validation"; grep -v '^ok' "$work/validate.txt"
  fi
  if node "$here/check-rendered.mjs" "$tools" "$file" "$work/lameduck.yaml" >"$work/check.txt"; then
    if [ -n "$mode" ] && ! grep -q "mode $mode," "$work/check.txt"; then
      fail "$name: expected the $mode sidecar: $(cat "$work/check.txt")"
    else
      pass "$name: $(sed 's/^ok *[^:]*: //' "$work/check.txt")"
    fi
  else
    fail "$name: sidecar promises"; cat "$work/check.txt"
  fi
  if HOST_IP=10.0.3.7 POD_NAME=checkout-0 POD_NAMESPACE=shop REDIS_PASSWORD=x \
     "$lameduck" check-config "$work/lameduck.yaml" >"$work/cc.txt" 2>&1; then
    pass "$name: lameduck check-config accepts its lameduck.yaml"
  else
    fail "$name: lameduck check-config"; cat "$work/cc.txt"
  fi
}
