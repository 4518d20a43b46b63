#!/usr/bin/env bash
# Fuzzes the parsers at Portcullis's edges with libFuzzer and AddressSanitizer:
#   jsonrpc        agent messages (RPCMessage.parse), upstream answers (UpstreamResponse.outcome),
#                  trace contexts (TraceParent)
#                  and upstream event streams (SSE.dataFields)
#   jose           StrictJSON, Base64URL, CompactJWS.parse and checkHeader, the claim readers
#   configuration  the gateway configuration (GatewayConfiguration and its parts) through JSONDecoder
#
#   scripts/fuzz-edge.sh [SECONDS] [FUZZER...]    # default 60 seconds per fuzzer, all three
#
# SwiftPM is not used: each fuzzer is compiled by swiftc from the smallest set of source files that
# builds without the server dependencies (docs/fuzzing.md lists them). Files are found by name, so
# moving one to another folder does not break the build. `SSE` is cut out of the file that declares
# it (HTTPUpstream.swift, which needs AsyncHTTPClient). Every swiftc runs under
# `flock /tmp/swift-build.lock`, so it never overlaps another build that takes the same lock.
#
# Seeds are rewritten on every run into .build-fuzz/edge/seeds/<fuzzer>/; the corpus grows in
# .build-fuzz/edge/work/<fuzzer>/. Crashes are written to .build-fuzz/crashes/<fuzzer>-crash-…, and
# the script exits non-zero if any fuzzer finds one (the others still run). Reproduce a crash with
#   .build-fuzz/edge/bin/<fuzzer>-fuzzer .build-fuzz/crashes/<fuzzer>-crash-…
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
fuzzers=("$@")
[ ${#fuzzers[@]} -gt 0 ] || fuzzers=(jsonrpc jose configuration)

out=.build-fuzz/edge
mods=$out/mods
mkdir -p "$mods" "$out/src" "$out/bin" "$out/logs" .build-fuzz/crashes
lock=/tmp/swift-build.lock
swift_flags=(-swift-version 6 -parse-as-library -O -g -sanitize=fuzzer,address
  -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
  -enable-upcoming-feature InternalImportsByDefault)

# Drops gold's warnings about AddressSanitizer's local symbols (hundreds of lines, all harmless).
quiet() { grep -v "Cannot export local symbol '__asan" || true; }

# True when $1 is missing or older than any of the other paths.
stale() {
  local target=$1
  shift
  [ -e "$target" ] || return 0
  for f in "$@"; do [ "$f" -nt "$target" ] && return 0; done
  return 1
}

# module NAME FILE... : compiles a library module to $mods/NAME.o and $mods/NAME.swiftmodule.
module() {
  local name=$1
  shift
  if stale "$mods/$name.o" "$@"; then
    echo "compiling module $name ($# files)"
    flock "$lock" swiftc "${swift_flags[@]}" -c -wmo -module-name "$name" -I "$mods" \
      -emit-module-path "$mods/$name.swiftmodule" "$@" -o "$mods/$name.o" 2> >(quiet >&2)
  fi
}

# fuzzer NAME MODULE "OBJECT..." FILE... : links the fuzzer NAME, whose harness is compiled into MODULE.
fuzzer() {
  local name=$1 module_name=$2 objects=$3
  shift 3
  # shellcheck disable=SC2086 # the object list is split on purpose
  if stale "$out/bin/$name-fuzzer" "$@" $objects; then
    echo "compiling $name-fuzzer"
    # shellcheck disable=SC2086
    flock "$lock" swiftc "${swift_flags[@]}" -module-name "$module_name" -I "$mods" "$@" $objects \
      -o "$out/bin/$name-fuzzer" 2> >(quiet >&2)
  fi
}

# extract FILE PATTERN OUTPUT : writes the top-level declaration that starts at the first line
# matching PATTERN and ends at the next line that is exactly `}`.
extract() {
  local file=$1 pattern=$2 output=$3
  local text
  text=$(awk -v pat="$pattern" '!on && $0 ~ pat { on = 1 } on { print } on && /^}$/ { exit }' "$file")
  if [ -z "$text" ] || [ "$(printf '%s\n' "$text" | tail -n 1)" != "}" ]; then
    echo "fuzz-edge: cannot find \`$pattern\` in $file; update scripts/fuzz-edge.sh" >&2
    exit 2
  fi
  local fresh
  fresh=$(printf '// Cut out of %s by scripts/fuzz-edge.sh; do not edit.\n%s\n' "$file" "$text")
  # Rewrite only on change, so the fuzzer is not relinked for nothing.
  if [ ! -e "$output" ] || [ "$(cat "$output")" != "$fresh" ]; then printf '%s\n' "$fresh" > "$output"; fi
}

# seed DIR NAME SELECTOR TEXT : writes one seed, prefixed with its selector byte (an octal escape).
seed() {
  mkdir -p "$1"
  { printf "$3"; printf '%s' "$4"; } > "$1/$2"
}

b64url() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# source NAME : the one file called NAME under Sources/, wherever the refactoring of the day put it.
source_file() {
  local found
  found=$(find Sources -name "$1" -type f)
  if [ -z "$found" ] || [ "$(printf '%s\n' "$found" | wc -l)" -ne 1 ]; then
    echo "fuzz-edge: expected exactly one Sources/**/$1, found: ${found:-none}" >&2
    exit 2
  fi
  printf '%s\n' "$found"
}

# declaration PATTERN : the one file under Sources/ with a line matching PATTERN (an extended regex).
declaration_file() {
  local found
  found=$(grep -rlE "$1" Sources --include='*.swift' || true)
  if [ -z "$found" ] || [ "$(printf '%s\n' "$found" | wc -l)" -ne 1 ]; then
    echo "fuzz-edge: expected exactly one file under Sources/ declaring \`$1\`, found: ${found:-none}" >&2
    exit 2
  fi
  printf '%s\n' "$found"
}

# The target (module) a source file belongs to.
target_of() { echo "$1" | cut -d/ -f2; }

core_module() {
  module PortcullisCore "$(source_file JSONAny.swift)" "$(source_file ToolRecord.swift)" "$(source_file Monitoring.swift)" \
    "$(source_file RateBudget.swift)"
}

build() {
  case $1 in
  jsonrpc)
    module Cedar $(find Sources/Cedar -name '*.swift' | sort)
    # JSONRPC.swift imports the target that holds the public JSONValue accessors (stringValue, canonical).
    local access
    access=$(declaration_file '^ *public var canonical: JSONValue')
    # The same module holds TraceParent (an agent's `traceparent`, from a header or `_meta`).
    module "$(target_of "$access")" "$access" "$(source_file TraceParent.swift)"
    local sse
    sse=$(declaration_file '^(public )?enum SSE ')
    extract "$sse" '^(public )?enum SSE ' "$out/src/SSE.swift"
    local jsonrpc
    jsonrpc=$(source_file JSONRPC.swift)
    fuzzer jsonrpc "$(target_of "$jsonrpc")" "$mods/Cedar.o $mods/$(target_of "$access").o" \
      "$jsonrpc" "$(source_file UpstreamTransport.swift)" "$out/src/SSE.swift" Fuzz/EdgeFuzzers/JSONRPCFuzzer.swift
    ;;
  jose)
    module Cedar $(find Sources/Cedar -name '*.swift' | sort)
    core_module
    fuzzer jose PortcullisIdentity "$mods/Cedar.o $mods/PortcullisCore.o" \
      "$(source_file Base64URL.swift)" "$(source_file ClaimReading.swift)" "$(source_file CompactJWS.swift)" \
      "$(source_file JOSEFailure.swift)" "$(source_file StrictJSON.swift)" Fuzz/EdgeFuzzers/JOSEFuzzer.swift
    ;;
  configuration)
    core_module
    local gateway files
    gateway=$(source_file GatewayConfiguration.swift)
    files=("$gateway" "$(source_file UpstreamConfiguration.swift)" "$(source_file ToolClassification.swift)"
      "$(source_file ResponseConfiguration.swift)" "$(source_file RateLimiter.swift)" "$(declaration_file '^(public )?enum StrictKeys')"
      "$(source_file HTTPUpstreamConfiguration.swift)" "$(source_file DataClass.swift)")
    # shellcheck disable=SC2207 # paths have no spaces
    files=($(printf '%s\n' "${files[@]}" | sort -u))
    fuzzer configuration "$(target_of "$gateway")" "$mods/PortcullisCore.o" "${files[@]}" Fuzz/EdgeFuzzers/ConfigurationFuzzer.swift
    ;;
  *)
    echo "fuzz-edge: unknown fuzzer \`$1\` (jsonrpc, jose, configuration)" >&2
    exit 2
    ;;
  esac
}

seeds() {
  local dir=$out/seeds/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  case $1 in
  jsonrpc)
    # 0: agent messages (requests, notifications, a batch and a response, which are refused).
    seed "$dir" request '\000' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"time.get_current_time","arguments":{"timezone":"UTC"}}}'
    seed "$dir" request-string-id '\000' '{"jsonrpc":"2.0","id":"a-1","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}'
    seed "$dir" initialize '\000' '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agent","version":"1.0"}}}'
    seed "$dir" notification '\000' '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    seed "$dir" escapes '\000' '{"jsonrpc":"2.0","id":-1.5e3,"method":"tools/call","params":{"name":"fs.read","arguments":{"path":"\u002Fetc\ud83d\ude00\n","n":[1,true,null,{}]}}}'
    seed "$dir" batch '\000' '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]'
    seed "$dir" response '\000' '{"jsonrpc":"2.0","id":1,"result":{}}'
    seed "$dir" duplicate '\000' '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}'
    # 1: upstream answers.
    seed "$dir" result '\001' '{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"12:00"}],"isError":false}}'
    seed "$dir" error '\001' '{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad arguments","data":{"field":"x"}}}'
    seed "$dir" list-changed '\001' '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'
    # 2: upstream event streams.
    seed "$dir" sse '\002' $'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\r\n\r\ndata: {"jsonrpc":"2.0","id":1,\ndata: "result":{}}\n\n'
    seed "$dir" sse-cr '\002' $': comment\rid: 7\rdata:{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}\r\r'
    # 3: trace contexts.
    seed "$dir" traceparent '\003' '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    seed "$dir" traceparent-future '\003' 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra'
    ;;
  jose)
    local es_header es_claims dpop_header
    es_header=$(b64url '{"alg":"ES256","typ":"at+jwt","kid":"k1"}')
    es_claims=$(b64url '{"iss":"https://as.example","sub":"agent-1","aud":["https://gw.example/mcp"],"exp":1893456000,"iat":1700000000,"nbf":1700000000,"scope":"mcp","act":{"sub":"user"}}')
    dpop_header=$(b64url '{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}')
    # 0: strict JSON.
    seed "$dir" json '\000' '{"a":[1,-0,2.5e-3,true,false,null],"b":{"c":"\u00e9\ud83d\ude00"},"d":""}'
    seed "$dir" json-dup '\000' '{"alg":"ES256","alg":"none"}'
    # 1: compact JWS text, valid and broken.
    seed "$dir" jwt '\001' "$es_header.$es_claims.c2lnbmF0dXJl"
    seed "$dir" dpop '\001' "$dpop_header.$(b64url '{"htm":"POST","htu":"https://gw.example/mcp","iat":1700000000,"jti":"x"}').AAAA"
    seed "$dir" alg-none '\001' "$(b64url '{"alg":"none"}').$es_claims.AA"
    seed "$dir" jwe '\001' "$(b64url '{"alg":"RSA-OAEP","enc":"A256GCM"}')..aXY.Y2lwaGVy.dGFn"
    seed "$dir" padded '\001' "$es_header=.$es_claims.c2ln"
    seed "$dir" no-signature '\001' "$es_header.$es_claims."
    seed "$dir" not-json '\001' "$(b64url 'not json').$es_claims.c2ln"
    # 2: base64url text.
    seed "$dir" b64 '\002' 'SGVsbG8sIHdvcmxkIQ'
    seed "$dir" b64-trailing-bits '\002' 'QR'
    # 3: header and claims as JSON, separated by a NUL byte; the harness encodes them into a token.
    seed "$dir" parts '\003' $'{"alg":"ES256","kid":"k1","typ":"JWT"}\x01{"iss":"a","sub":"b","aud":"c","exp":1.5e9,"nbf":0}'
    seed "$dir" parts-crit '\003' $'{"alg":"ES256","crit":["b64"],"b64":false}\x01{"aud":[1]}'
    # The NUL separator cannot be written through a shell variable; patch it in.
    for f in "$dir"/parts "$dir"/parts-crit; do tr '\001' '\000' < "$f" > "$f.tmp" && mv "$f.tmp" "$f"; done
    ;;
  configuration)
    seed "$dir" full '' '{"upstreams":[{"name":"time","command":["mcp-server-time","--local-timezone","UTC"]},{"name":"git","command":["mcp-server-git"],"env":{"GIT_AUTHOR_NAME":"agent"}},{"name":"web","url":"https://tools.internal/mcp","headers":{"Authorization":"Bearer x"},"untrusted":true,"trustAnnotations":false,"passEnvironment":["HOME"],"timeoutSeconds":20}],"tools":{"git.git_commit":{"effect":"write","risk":3,"dataClass":"source","tags":["vcs"]}},"policyDirectory":"/etc/portcullis/policies","approveNewTools":true,"rateLimit":{"perMinute":120,"burst":30},"agentRateLimit":{"perMinute":1200,"burst":200},"taintSeconds":28800,"toolListSeconds":300,"toolRateLimits":{"git.git_commit":{"perMinute":6,"burst":2}},"dlp":{"arguments":"block","results":"redact"},"maxMessageBytes":1048576,"requiredScope":"mcp","auditArguments":false}'
    seed "$dir" response '' '{"approvals":{"waitSeconds":1,"expirySeconds":600},"monitoring":{"enabled":true,"learningCalls":50,"burstFactor":5,"burstMinimum":30,"offHoursShare":0.02,"denySpikeRatio":0.5,"denySpikeMinimum":10,"exfilFactor":10,"exfilMinimumBytes":1048576,"riskHalfLifeSeconds":3600,"webhook":"https://alerts.example/hook"},"response":{"rules":[{"minScore":1,"action":"alert"},{"minScore":40,"action":"approve_writes"},{"minScore":60,"action":"read_only"},{"minScore":80,"action":"suspend"},{"minScore":95,"action":"kill"}]}}'
    seed "$dir" typo '' '{"upstreams":[],"monitoring":{"burstFactr":3}}'
    seed "$dir" http '' '{"httpUpstreams":[{"name":"crm","baseURL":"https://api.crm.example/v2","dataClass":"confidential","credentials":{"read":"vault:crm.read","write":"vault:crm.write"},"maxRequestBytes":1048576,"maxResponseBytes":4194304,"timeoutSeconds":30,"untrusted":false,"operations":[{"method":"get","path":"/tickets/{id}","operationId":"getTicket","effect":"read","risk":1,"tags":["crm"]}],"operationEffects":{"getTicket":"read"}}]}'
    seed "$dir" empty '' '{}'
    ;;
  esac
}

# dictionary NAME : libFuzzer tokens for the fuzzer NAME.
dictionary() {
  local file=$out/seeds/$1.dict
  {
    for t in '{' '}' '[' ']' ':' ',' '\"' 'true' 'false' 'null' '-0' '1e999' '\\u0000' '\\ud800' '\\udc00' '\\/' '0.5'; do
      printf 'kw="%s"\n' "$t"
    done
    case $1 in
    jsonrpc)
      for t in jsonrpc 2.0 id method params result error code message data _meta tools/call; do
        printf 'kw="\\"%s\\""\n' "$t"
      done
      printf 'kw="%s"\n' 'data:' 'data: ' 'event:' 'id:' '\x0d\x0a' '\x0a\x0a' '\x0d'
      ;;
    jose)
      for t in alg none ES256 EdDSA HS256 kid typ crit b64 enc zip jku x5u x5c jwk iss sub aud exp nbf iat jti; do
        printf 'kw="\\"%s\\""\n' "$t"
      done
      printf 'kw="."\nkw="-"\nkw="_"\nkw="eyJ"\n'
      ;;
    configuration)
      # Every key and enum value the configuration types read: their `case` names and raw values.
      local files=("$(source_file GatewayConfiguration.swift)" "$(source_file UpstreamConfiguration.swift)"
        "$(source_file ToolClassification.swift)" "$(source_file ResponseConfiguration.swift)"
        "$(source_file RateLimiter.swift)" "$(source_file Monitoring.swift)" "$(source_file ToolRecord.swift)")
      awk '/^[[:space:]]*case [A-Za-z]|\{ case [A-Za-z]/ {
        sub(/^.*case /, "")
        sub(/\}.*$/, "")
        n = split($0, items, ",")
        for (i = 1; i <= n; i++) {
          item = items[i]
          if (match(item, /"[^"]*"/)) item = substr(item, RSTART + 1, RLENGTH - 2)
          else gsub(/[[:space:]]|:.*$|\(.*$/, "", item)
          if (item ~ /^[A-Za-z_]+$/) printf "kw=\"\\\"%s\\\"\"\n", item
        }
      }' "${files[@]}" | sort -u
      ;;
    esac
  } > "$file"
}

status=0
summary=()
for name in "${fuzzers[@]}"; do
  build "$name"
  seeds "$name"
  dictionary "$name"
  work=$out/work/$name
  log=$out/logs/$name.log
  mkdir -p "$work"
  echo "fuzzing $name for ${seconds}s (log: $log)"
  # Leak detection is off, as in fuzz-cedar.sh: LeakSanitizer reports Swift's lazily initialised
  # globals as leaked at exit. Memory errors, crashes, timeouts and RSS blow-ups are still caught.
  # Swift's own crash backtracer is off: under AddressSanitizer it reports itself (a stack-buffer
  # underflow in CrashHandlerLinux.cpp) after every trap, burying the real message.
  set +e
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$out/bin/$name-fuzzer" "$work" "$out/seeds/$name" -dict="$out/seeds/$name.dict" \
    -max_total_time="$seconds" -seed="${FUZZ_SEED:-0}" -max_len=8192 -timeout=10 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix=".build-fuzz/crashes/$name-" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  coverage=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' | tail -n 1)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "$name: FAILED (exit $rc); end of the log:"
    tail -n 40 "$log"
    summary+=("$name: CRASH after ${execs:-?} execs; see $(grep -o '\.build-fuzz/crashes/[^ ]*' "$log" | tail -n 1)")
  else
    summary+=("$name: ${execs:-?} execs, ${rate:-?} exec/s, ${coverage:-?}, no crash")
  fi
done
printf '%s\n' "${summary[@]}"
exit "$status"
