#!/usr/bin/python3
"""Makes the fixtures in tests/data/opset_new/: one folder per case of the op versions that opsets
18 to 23 introduced, with ONNX Runtime's outputs as the expected ones. tests/importers/opset_new_test.cc
loads every folder (through the lowering to opset 17) and compares the runtime's outputs with them.

    /usr/bin/python3 tests/data/make_opset_new.py               every case
    /usr/bin/python3 tests/data/make_opset_new.py mish_18 ...   only the cases named
    /usr/bin/python3 tests/data/make_opset_new.py --list        the cases, by file

The cases are the lists CASES of tests/data/opset_new_cases/*.py (one file per op family; the
format is in tests/data/opset_new_cases/README.md). Each case NAME becomes tests/data/opset_new/NAME/:
    model.onnx                      the case's nodes in a graph, at its opset (ir_version to match),
                                    its inputs typed from their arrays, its outputs typed and shaped
                                    from ONNX Runtime's results (only the rank when the case declares
                                    symbolic input `shapes`); written with ONNX's Python helper (Debian's
                                    python3-onnx 1.12, which knows opsets up to 17: no checker here)
    test_data_set_0/input_<i>.pb    the inputs, in the order of the case's `inputs`
    test_data_set_0/output_<i>.pb   ONNX Runtime's outputs (tests/data/opset_new_ort.js)
    tolerance.txt                   "rtol R" and "atol A": |expected - got| <= atol + rtol * |expected|

ONNX Runtime is the npm package onnxruntime-node run with node; it is found on NODE_PATH or in
tests/cli/node_modules (tools/test.sh installs it there). Opset 23 needs onnxruntime-node 1.31.1
(the version tools/test.sh installs); model.onnx records the version that made the outputs in its
metadata ("expected_outputs": "onnxruntime-node X"). A case ONNX Runtime refuses leaves no folder
behind and makes the script exit 1 naming it.
"""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "opset_new_cases")
OUT = os.path.join(HERE, "opset_new")
ORT_SCRIPT = os.path.join(HERE, "opset_new_ort.js")

# The IR version ONNX pairs with each opset (onnx/helper.py's VERSION_TABLE of ONNX 1.18).
IR_VERSION = {18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11}
REQUIRED = ("name", "opset", "nodes", "inputs", "outputs")
OPTIONAL = ("initializers", "shapes", "rtol", "atol", "doc")
DEFAULT_RTOL, DEFAULT_ATOL = 1e-4, 1e-5


class CaseError(Exception):
    pass


def load_family(path):
    """The CASES of one cases file, each tagged with its family (the file's stem)."""
    family = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"opset_new_cases_{family}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, list):
        raise CaseError(f"{path}: defines no list CASES")
    for case in cases:
        check_case(case, path)
        case["family"] = family
    return cases


def check_case(case, path):
    where = f"{path}: case {case.get('name', '?')!r}"
    if not isinstance(case, dict):
        raise CaseError(f"{path}: a case is a dict, not {type(case).__name__}")
    missing = [k for k in REQUIRED if k not in case]
    unknown = [k for k in case if k not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise CaseError(f"{where}: missing {missing}, unknown {unknown}")
    if not re.fullmatch(r"[a-z0-9_]+", case["name"]):
        raise CaseError(f"{where}: a name is lower-case letters, digits and '_' (it names a folder)")
    if case["opset"] not in IR_VERSION:
        raise CaseError(f"{where}: opset {case['opset']} is not one of 18-23")
    for group in ("inputs", "initializers"):
        for name, value in case.get(group, {}).items():
            if not isinstance(value, np.ndarray):
                raise CaseError(f"{where}: {group}[{name!r}] is a {type(value).__name__}, not a numpy array")
    if not case["outputs"] or not all(isinstance(o, str) and o for o in case["outputs"]):
        raise CaseError(f"{where}: outputs is a non-empty list of value names")


def all_cases():
    cases, seen = [], {}
    for path in sorted(glob.glob(os.path.join(CASES_DIR, "*.py"))):
        for case in load_family(path):
            if case["name"] in seen:
                raise CaseError(f"case {case['name']!r} is in both {seen[case['name']]} and {path}")
            seen[case["name"]] = path
            cases.append(case)
    return cases


def value_info(name, array, shape=None):
    elem = helper.np_dtype_to_tensor_dtype(array.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype") \
        else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[array.dtype]
    return helper.make_tensor_value_info(name, elem, list(array.shape) if shape is None else shape)


def build_model(case):
    """The case as a ModelProto; its outputs carry no type until ONNX Runtime has run it."""
    nodes = []
    for i, node in enumerate(case["nodes"]):
        node = onnx.NodeProto.FromString(node.SerializeToString())
        if not node.name:
            node.name = f"{node.op_type.lower()}_{i}"
        nodes.append(node)
    shapes = case.get("shapes", {})
    inputs = [value_info(n, a, shapes.get(n)) for n, a in case["inputs"].items()]
    inits = [numpy_helper.from_array(a, n) for n, a in case.get("initializers", {}).items()]
    outputs = [onnx.ValueInfoProto(name=n) for n in case["outputs"]]
    graph = helper.make_graph(nodes, case["name"], inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case["opset"])],
                              producer_name="onnx-train tests/data/make_opset_new.py")
    model.ir_version = IR_VERSION[case["opset"]]
    model.doc_string = f"opset_new_cases/{case['family']}.py: {case['name']}" + (
        f": {case['doc']}" if case.get("doc") else "")
    return model


def write_folder(case):
    folder = os.path.join(OUT, case["name"])
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data)
    onnx.save(build_model(case), os.path.join(folder, "model.onnx"))
    for i, (name, array) in enumerate(case["inputs"].items()):
        with open(os.path.join(data, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(array, name).SerializeToString())
    with open(os.path.join(folder, "tolerance.txt"), "w") as f:
        f.write(f"rtol {case.get('rtol', DEFAULT_RTOL):g}\natol {case.get('atol', DEFAULT_ATOL):g}\n")
    return folder


def type_outputs(folder, case, ort_version):
    """Gives model.onnx's outputs the element types and shapes of ONNX Runtime's results (ONNX's
    checker wants a shape; with symbolic inputs only the rank is known), and records the version."""
    path = os.path.join(folder, "model.onnx")
    model = onnx.load(path)
    for i, out in enumerate(model.graph.output):
        tensor = onnx.load_tensor(os.path.join(folder, "test_data_set_0", f"output_{i}.pb"))
        out.type.tensor_type.elem_type = tensor.data_type
        shape = out.type.tensor_type.shape
        shape.Clear()
        for d in tensor.dims:
            dim = shape.dim.add()
            if not case.get("shapes"):
                dim.dim_value = d
    helper.set_model_props(model, {"expected_outputs": f"onnxruntime-node {ort_version}"})
    onnx.save(model, path)


def run_ort(folders):
    """Runs the folders in ONNX Runtime; the version that ran them, and the folders it refused."""
    node = shutil.which("node") or "/usr/bin/node"
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join(
        p for p in (env.get("NODE_PATH"), os.path.join(HERE, "..", "cli", "node_modules")) if p)
    run = subprocess.run([node, ORT_SCRIPT] + folders, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    first = run.stdout.splitlines()[0] if run.stdout else ""
    if not first.startswith("onnxruntime-node "):
        sys.exit(f"make_opset_new: {ORT_SCRIPT} did not run (exit {run.returncode})")
    refused = [f for f in folders if f"{f}: ONNX Runtime cannot" in run.stderr]
    return first.split(" ", 1)[1], refused


def main(argv):
    try:
        cases = all_cases()
    except CaseError as e:
        sys.exit(f"make_opset_new: {e}")
    if argv[:1] == ["--list"]:
        for case in cases:
            print(f"{case['family']:16} {case['name']}")
        return 0
    by_name = {c["name"]: c for c in cases}
    unknown = [n for n in argv if n not in by_name]
    if unknown:
        sys.exit(f"make_opset_new: no case named {', '.join(unknown)} (--list lists them)")
    chosen = [by_name[n] for n in argv] if argv else cases
    folders = [write_folder(c) for c in chosen]
    version, refused = run_ort(folders)
    for folder in folders:
        if folder in refused:
            shutil.rmtree(folder)
        else:
            type_outputs(folder, by_name[os.path.basename(folder)], version)
    stale = sorted(set(os.listdir(OUT)) - set(by_name)) if os.path.isdir(OUT) else []
    if stale:
        print(f"make_opset_new: folders without a case (remove them if their case is gone): {', '.join(stale)}")
    print(f"make_opset_new: {len(folders) - len(refused)} of {len(folders)} cases written with onnxruntime-node "
          f"{version}")
    if refused:
        sys.exit(f"make_opset_new: ONNX Runtime refused {', '.join(os.path.basename(f) for f in refused)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
