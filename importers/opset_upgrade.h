// Upgrading a model's default-domain opset with ONNX's version converter.
//
// The runtime runs opsets 7 to 17 as they are, but some things it builds need a newer op than
// a model imports: opsets below 7 (semantics the kernels were not written for), and the class
// losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss: opset 12) appended to a model
// exported at opset 9, 10 or 11. load_onnx_model (LoadOptions::min_opset) calls this on the
// parsed file, before shape inference, so the Graph it returns is at the new opset throughout.
// The converter rewrites ops whose version changed (Dropout's ratio becomes an input, Clip's
// bounds inputs, Slice's attributes inputs, ...) and keeps every initializer and value name.
#pragma once

#include <string>

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace onnx_train {

// Converts `model`, which imports default-domain opset `from`, to opset `to` (> from). `why`
// says what needs the new opset, for the error ("the nll loss"). Throws one Error naming `path`,
// both opsets and the converter's complaint when it cannot.
void upgrade_opset(onnx::ModelProto& model, int from, int to, const std::string& path, const std::string& why);

}  // namespace onnx_train
