#!/usr/bin/env python3
"""MLPs of many layers, for the time of building their training graph (it should grow
linearly with depth).

    /usr/bin/python3 tools/bench/deep_mlp.py OUT_DIR 10,100,1000

writes OUT_DIR/mlp_depth<D>/train.onnx for each D: D Gemm (transB, as torch exports
nn.Linear) + Relu layers of width 64 (the last to 10 classes, no Relu), input "input" [N, 64],
output "logits", opset 13, weights uniform in +-1/sqrt(64). Built with onnx.helper: exporting
a 1000-layer model through torch.onnx takes minutes (its passes grow faster than the graph).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def deep_mlp(depth, width=64, classes=10):
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "input"
    for i in range(depth):
        out_dim = classes if i == depth - 1 else width
        bound = 1 / np.sqrt(width)
        w = rng.uniform(-bound, bound, (out_dim, width)).astype(np.float32)
        b = rng.uniform(-bound, bound, (out_dim,)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        y = "logits" if i == depth - 1 else f"gemm{i}"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [y], name=f"Gemm_{i}", transB=1))
        if i < depth - 1:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}"], name=f"Relu_{i}"))
            y = f"relu{i}"
        x = y
    graph = helper.make_graph(nodes, f"mlp_depth{depth}",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="deep_mlp.py")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: deep_mlp.py OUT_DIR DEPTH,DEPTH,...")
    for depth in [int(d) for d in sys.argv[2].split(",") if d]:
        folder = os.path.join(sys.argv[1], f"mlp_depth{depth}")
        os.makedirs(folder, exist_ok=True)
        model = deep_mlp(depth)
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(folder, "train.onnx"))
        print(f"exported mlp_depth{depth} to {folder}")


if __name__ == "__main__":
    main()
