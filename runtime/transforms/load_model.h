// Loading a model for running: the one call that turns a .onnx file into the Graph a plan is
// built from.
//
// load_model = load_onnx_model (importers/onnx_model.h: parse, check, upgrade old opsets,
// infer shapes) + the transformer fusions (runtime/transforms/fuse_transformer.h: chunked
// Slices into one Split) + the expansion of ONNX's `Gradient` op (ai.onnx.preview.training), which no
// kernel runs: when the model contains one, the gradient builder (gradients/autodiff.h)
// replaces it by the backward graph it names (a plain model costs one scan of its nodes).
// The inference Session loads through it; loading for training builds on it.
#pragma once

#include <string>

#include "importers/onnx_model.h"

namespace onnx_train {

Graph load_model(const std::string& path, const LoadOptions& options = {});

}  // namespace onnx_train
