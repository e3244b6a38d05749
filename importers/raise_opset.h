// Raising a graph the runtime built at opset 17 to a newer default-domain opset (18 to 23).
//
// A model of opset 18-23 is lowered to opset 17 at load (importers/lower_opset.h), so the graphs
// the runtime builds on it (the training graph, TrainingInfoProto's algorithm) are opset-17
// graphs. Written into a file that imports the model's own opset, each node must be valid at that
// opset. Most op versions of 18-23 only added attributes, inputs or types with defaults that keep
// the opset-17 meaning; the ones whose opset-17 form is not valid or means something else there
// are rewritten:
//   opset 18  ReduceL1/L2/LogSum/LogSumExp/Max/Mean/Min/Prod/SumSquare: the `axes` attribute
//             becomes the second input (ReduceSum's has been an input since 13);
//             Split without a `split` input: num_outputs = its number of outputs (Split-18 needs
//             one of the two; an even split is what Split-13 does without either);
//   opset 20  GridSample: mode "bilinear" is "linear", "bicubic" is "cubic";
//             DFT: the `axis` attribute (default 1) becomes the third input.
// Compatible and left as they are: Pad-18/19 (axes input, wrap mode), Resize-18/19, ScatterND /
// ScatterElements-18 (max/min), LpPool-18 (ceil_mode), AveragePool-19 (dilations), Cast-19/21/23
// (saturate, types), ConstantOfShape/IsInf/IsNaN/ReduceMax/ReduceMin-20 and the type additions of
// 19 and 21-23. Nodes of other domains are left alone.
#pragma once

#include <set>
#include <string>

#include "runtime/ir/graph.h"

namespace onnx_train {

// Rewrites the default-domain nodes of `graph` (at opset 17 or older forms) into their forms at
// `opset` (18-23; nothing for 17 or less) and sets the graph's default-domain opset to it. New
// values (the axes constants, as Constant nodes placed before their reader) get names that
// neither the graph nor `reserved` has.
void raise_from_opset17(Graph& graph, int opset, const std::set<std::string>& reserved = {});

}  // namespace onnx_train
