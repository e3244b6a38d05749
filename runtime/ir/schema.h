// What a node's operator version means: the ONNX schema versions the runtime accepts and
// looks up, and the version-dependent readings of a node that several layers share
// (kernels, gradient rules, graph transforms).
//
// This is the only place outside importers/ that asks ONNX's schema registry anything;
// it does not parse models (importers/onnx_model.h) and does not make nodes (editor.h).
#pragma once

#include <string>

#include "runtime/ir/graph.h"

namespace onnx_train {

// The lowest and highest default-domain opset the runtime accepts.
constexpr int kMinOpset = 7;
constexpr int kMaxOpset = 17;

// The since_version of ONNX's schema for `op_type` in `domain` at `opset` (0 when ONNX
// defines no such op): what nodes made in code need to pick their kernels.
int onnx_since_version(const std::string& op_type, int opset, const std::string& domain = "");

// The version that defines `op_type` of `domain` at `opset`, as a node records it in
// since_version: ONNX's schema version for ONNX's domains, the opset itself for the project's
// own domain (whose ops are versioned by its opset); 0 when there is no such op.
int schema_version(const std::string& op_type, int opset, const std::string& domain);

// The opset `graph` imports for `domain` ("" is the default ONNX domain); for the default
// domain kMinOpset when the graph imports none, else 0 when it imports none.
int graph_opset(const Graph& graph, const std::string& domain = "");

// Whether a BatchNormalization node normalizes with its batch statistics (training) rather
// than its running ones: training_mode=1 from version 14 on; before, any of the optional
// statistics outputs (running mean/var, saved mean/var) being present.
bool batch_norm_in_training_mode(const Node& node);

}  // namespace onnx_train
