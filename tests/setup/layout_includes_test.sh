#!/usr/bin/env bash
# The layers of the tree, checked on its #include lines (ARCHITECTURE: data flows one way):
#   cli        tools/onnx-train/ is a layer over the public API: it includes the project's
#              headers only as onnx_train/* (runtime/include/) and its own tools/onnx-train/*;
#   gradients  gradients/ includes nothing from importers/ (the schema lookup and the graph
#              editor it uses live in runtime/ir);
#   session    runtime/exec/session.cc, the inference Session, includes nothing from gradients/
#              (expanding ONNX's Gradient op belongs to loading).
#
#   bash tests/setup/layout_includes_test.sh SOURCE_DIR cli|gradients|session
#
# Prints every offending line as FILE:LINE: #include ... and exits 1 when there is one.
set -euo pipefail
SRC="$1"
RULE="$2"
cd "$SRC"

# The #include lines of the given files, as FILE:LINE:TEXT.
includes() { grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$@" || true; }

case "$RULE" in
  cli)
    what='tools/onnx-train/ includes project headers only as onnx_train/* or tools/onnx-train/*'
    mapfile -t files < <(find tools/onnx-train -name '*.cc' -o -name '*.h' | sort)
    # Quoted includes name project headers; an angle-bracket one may not reach into the tree either.
    offending=$(includes "${files[@]}" |
      grep -vE ':[[:space:]]*#[[:space:]]*include[[:space:]]*"(onnx_train|tools/onnx-train)/' |
      grep -E '#[[:space:]]*include[[:space:]]*("|<(runtime|importers|gradients|tools|tests|models)/)' || true)
    ;;
  gradients)
    what='gradients/ includes nothing from importers/'
    mapfile -t files < <(find gradients -name '*.cc' -o -name '*.h' | sort)
    offending=$(includes "${files[@]}" | grep -E '#[[:space:]]*include[[:space:]]*["<]importers/' || true)
    ;;
  session)
    what='runtime/exec/session.cc includes nothing from gradients/'
    offending=$(includes runtime/exec/session.cc | grep -E '#[[:space:]]*include[[:space:]]*["<]gradients/' || true)
    ;;
  *)
    echo "layout check: unknown rule '$RULE' (cli, gradients or session)"
    exit 2
    ;;
esac

if [ -n "$offending" ]; then
  echo "layout check failed: $what; these lines break it:"
  echo "$offending"
  exit 1
fi
echo "layout check passed: $what"
