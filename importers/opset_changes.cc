// The op versions that default-domain opsets 18 to 23 introduced (importers/lower_opset.h).
//
// Read from the ONNX operator specification (docs/Changelog.md of ONNX 1.13 to 1.18): for each
// op, the versions from 18 on, and whether a version only widened the element types (the
// bfloat16 additions of 22, the float8/int4/float4 additions of 19, 21 and 23), in which case a
// node that uses the old types means what it meant at opset 17. Ops that are new in 18-23 have
// no opset-17 version at all.
#include <algorithm>
#include <map>

#include "importers/lower_opset.h"

namespace onnx_train {

namespace {

struct Change {
  int since_version;
  bool types_only;
};

// Types-only versions are marked `true`. A version that added an attribute or input with a
// default that keeps the old behaviour (Cast-19's saturate, DequantizeLinear-21's block_size) is
// not types-only: its lowering checks that the node does not use the new feature.
const std::map<std::string, std::vector<Change>>& changes_table() {
  static const std::map<std::string, std::vector<Change>> table = {
      // ---- 18
      {"BitwiseAnd", {{18, false}}},
      {"BitwiseNot", {{18, false}}},
      {"BitwiseOr", {{18, false}}},
      {"BitwiseXor", {{18, false}}},
      {"CenterCropPad", {{18, false}}},
      {"Col2Im", {{18, false}}},
      {"GroupNormalization", {{18, false}, {21, false}}},
      {"LpPool", {{18, false}, {22, true}}},
      {"Mish", {{18, false}, {22, true}}},
      {"OptionalGetElement", {{18, false}}},
      {"OptionalHasElement", {{18, false}}},
      {"Pad", {{18, false}, {19, false}, {21, true}, {23, true}}},
      {"ReduceL1", {{18, false}}},
      {"ReduceL2", {{18, false}}},
      {"ReduceLogSum", {{18, false}}},
      {"ReduceLogSumExp", {{18, false}}},
      {"ReduceMax", {{18, false}, {20, true}}},
      {"ReduceMean", {{18, false}}},
      {"ReduceMin", {{18, false}, {20, true}}},
      {"ReduceProd", {{18, false}}},
      {"ReduceSumSquare", {{18, false}}},
      {"Resize", {{18, false}, {19, false}}},
      {"ScatterElements", {{18, false}}},
      {"ScatterND", {{18, false}}},
      {"Split", {{18, false}}},
      // ---- 19
      {"AveragePool", {{19, false}, {22, true}}},
      {"Cast", {{19, false}, {21, true}, {23, true}}},
      {"CastLike", {{19, false}, {21, true}, {23, true}}},
      {"Constant", {{19, true}, {21, true}, {23, true}}},
      {"DeformConv", {{19, false}, {22, true}}},
      {"DequantizeLinear", {{19, true}, {21, false}, {23, true}}},
      {"Equal", {{19, true}}},
      {"Identity", {{19, true}, {21, true}, {23, true}}},
      {"If", {{19, true}, {21, true}, {23, true}}},
      {"Loop", {{19, true}, {21, true}, {23, true}}},
      {"QuantizeLinear", {{19, false}, {21, false}, {23, true}}},
      {"Reshape", {{19, true}, {21, true}, {23, true}}},
      {"Scan", {{19, true}, {21, true}, {23, true}}},
      {"Shape", {{19, true}, {21, true}, {23, true}}},
      {"Size", {{19, true}, {21, true}, {23, true}}},
      // ---- 20
      {"AffineGrid", {{20, false}}},
      {"ConstantOfShape", {{20, true}, {21, true}, {23, true}}},
      {"DFT", {{20, false}}},
      {"Gelu", {{20, false}}},
      {"GridSample", {{20, false}, {22, true}}},
      {"ImageDecoder", {{20, false}}},
      {"IsInf", {{20, true}}},
      {"IsNaN", {{20, true}}},
      {"RegexFullMatch", {{20, false}}},
      {"StringConcat", {{20, false}}},
      {"StringSplit", {{20, false}}},
      // ---- 21
      {"Flatten", {{21, true}, {23, true}}},
      {"QLinearMatMul", {{21, true}}},
      {"Squeeze", {{21, true}, {23, true}}},
      {"Transpose", {{21, true}, {23, true}}},
      {"Unsqueeze", {{21, true}, {23, true}}},
      // ---- 22: bfloat16 added to the floating-point ops below
      {"Acos", {{22, true}}},
      {"Acosh", {{22, true}}},
      {"Asin", {{22, true}}},
      {"Asinh", {{22, true}}},
      {"Atan", {{22, true}}},
      {"Atanh", {{22, true}}},
      {"Bernoulli", {{22, true}}},
      {"Conv", {{22, true}}},
      {"ConvTranspose", {{22, true}}},
      {"Cos", {{22, true}}},
      {"Cosh", {{22, true}}},
      {"Det", {{22, true}}},
      {"Dropout", {{22, true}}},
      {"Elu", {{22, true}}},
      {"EyeLike", {{22, true}}},
      {"GRU", {{22, true}}},
      {"GlobalAveragePool", {{22, true}}},
      {"GlobalLpPool", {{22, true}}},
      {"GlobalMaxPool", {{22, true}}},
      {"HardSigmoid", {{22, true}}},
      {"HardSwish", {{22, true}}},
      {"InstanceNormalization", {{22, true}}},
      {"LSTM", {{22, true}}},
      {"LpNormalization", {{22, true}}},
      {"MaxPool", {{22, true}}},
      {"MaxRoiPool", {{22, true}}},
      {"MaxUnpool", {{22, true}}},
      {"Multinomial", {{22, true}}},
      {"NegativeLogLikelihoodLoss", {{22, true}}},
      {"RNN", {{22, true}}},
      {"RandomNormal", {{22, true}}},
      {"RandomNormalLike", {{22, true}}},
      {"RandomUniform", {{22, true}}},
      {"RandomUniformLike", {{22, true}}},
      {"RoiAlign", {{22, true}}},
      {"Round", {{22, true}}},
      {"Selu", {{22, true}}},
      {"Sin", {{22, true}}},
      {"Sinh", {{22, true}}},
      {"Softplus", {{22, true}}},
      {"Softsign", {{22, true}}},
      {"Tan", {{22, true}}},
      {"ThresholdedRelu", {{22, true}}},
      // ---- 23
      {"Attention", {{23, false}}},
      {"RMSNormalization", {{23, false}}},
      {"RotaryEmbedding", {{23, false}}},
  };
  return table;
}

}  // namespace

std::vector<OpsetChange> opset_changes(const std::string& op_type) {
  std::vector<OpsetChange> out;
  const auto& table = changes_table();
  const auto it = table.find(op_type);
  if (it == table.end()) return out;
  for (const Change& c : it->second) out.push_back({c.since_version, c.types_only});
  return out;
}

std::vector<std::string> ops_changed_after_opset17() {
  std::vector<std::string> out;
  for (const auto& [op, changes] : changes_table()) out.push_back(op);
  return out;
}

int lowered_version(const std::string& op_type, int opset) {
  int version = 0;
  for (const OpsetChange& c : opset_changes(op_type))
    if (c.since_version <= opset && !c.types_only) version = std::max(version, c.since_version);
  return version;
}

}  // namespace onnx_train

namespace onnx_train {

namespace {

// How many inputs and outputs a version takes (max -1: variadic) and its attributes, from the
// operator specification: what ONNX 1.12's checker would check of a version it knew.
struct Signature {
  int min_inputs, max_inputs, min_outputs, max_outputs;
  std::vector<std::string> attributes;
};

const std::map<std::pair<std::string, int>, Signature>& signatures() {
  static const std::vector<std::string> pool = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                                "strides"};
  static const std::vector<std::string> reduce = {"keepdims", "noop_with_empty_axes"};
  static const std::vector<std::string> resize = {
      "antialias", "axes",     "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
      "extrapolation_value",   "keep_aspect_ratio_policy",       "mode",          "nearest_mode"};
  auto with = [](std::vector<std::string> a, std::vector<std::string> more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  static const std::map<std::pair<std::string, int>, Signature> table = {
      {{"AffineGrid", 20}, {2, 2, 1, 1, {"align_corners"}}},
      {{"Attention", 23},
       {3, 6, 1, 4,
        {"is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode", "scale", "softcap",
         "softmax_precision"}}},
      {{"AveragePool", 19}, {1, 1, 1, 1, with(pool, {"count_include_pad"})}},
      {{"BitwiseAnd", 18}, {2, 2, 1, 1, {}}},
      {{"BitwiseNot", 18}, {1, 1, 1, 1, {}}},
      {{"BitwiseOr", 18}, {2, 2, 1, 1, {}}},
      {{"BitwiseXor", 18}, {2, 2, 1, 1, {}}},
      {{"Cast", 19}, {1, 1, 1, 1, {"saturate", "to"}}},
      {{"CastLike", 19}, {2, 2, 1, 1, {"saturate"}}},
      {{"CenterCropPad", 18}, {2, 2, 1, 1, {"axes"}}},
      {{"Col2Im", 18}, {3, 3, 1, 1, {"dilations", "pads", "strides"}}},
      {{"DFT", 20}, {1, 3, 1, 1, {"inverse", "onesided"}}},
      {{"DeformConv", 19},
       {3, 5, 1, 1, {"dilations", "group", "kernel_shape", "offset_group", "pads", "strides"}}},
      {{"DequantizeLinear", 21}, {2, 3, 1, 1, {"axis", "block_size"}}},
      {{"Gelu", 20}, {1, 1, 1, 1, {"approximate"}}},
      {{"GridSample", 20}, {2, 2, 1, 1, {"align_corners", "mode", "padding_mode"}}},
      {{"GroupNormalization", 18}, {3, 3, 1, 1, {"epsilon", "num_groups"}}},
      {{"GroupNormalization", 21}, {3, 3, 1, 1, {"epsilon", "num_groups", "stash_type"}}},
      {{"LpPool", 18}, {1, 1, 1, 1, with(pool, {"p"})}},
      {{"Mish", 18}, {1, 1, 1, 1, {}}},
      {{"Pad", 18}, {2, 4, 1, 1, {"mode"}}},
      {{"Pad", 19}, {2, 4, 1, 1, {"mode"}}},
      {{"QuantizeLinear", 19}, {2, 3, 1, 1, {"axis", "saturate"}}},
      {{"QuantizeLinear", 21}, {2, 3, 1, 1, {"axis", "block_size", "output_dtype", "saturate"}}},
      {{"RMSNormalization", 23}, {2, 2, 1, 1, {"axis", "epsilon", "stash_type"}}},
      {{"ReduceL1", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceL2", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceLogSum", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceLogSumExp", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceMax", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceMean", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceMin", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceProd", 18}, {1, 2, 1, 1, reduce}},
      {{"ReduceSumSquare", 18}, {1, 2, 1, 1, reduce}},
      {{"Resize", 18}, {1, 4, 1, 1, resize}},
      {{"Resize", 19}, {1, 4, 1, 1, resize}},
      {{"RotaryEmbedding", 23}, {3, 4, 1, 1, {"interleaved", "num_heads", "rotary_embedding_dim"}}},
      {{"ScatterElements", 18}, {3, 3, 1, 1, {"axis", "reduction"}}},
      {{"ScatterND", 18}, {3, 3, 1, 1, {"reduction"}}},
      {{"Split", 18}, {1, 2, 1, -1, {"axis", "num_outputs"}}},
  };
  return table;
}

std::string count_of(int n, const char* what) { return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s"); }

}  // namespace

std::string signature_problem(const Node& node, int version) {
  const auto it = signatures().find({node.op_type, version});
  if (it == signatures().end()) return "";
  const Signature& sig = it->second;
  const std::string op = fmt::format("{}-{}", node.op_type, version);
  const int inputs = static_cast<int>(node.inputs.size());
  const int outputs = static_cast<int>(node.outputs.size());
  if (inputs < sig.min_inputs || inputs > sig.max_inputs)
    return sig.min_inputs == sig.max_inputs
               ? fmt::format("{} takes {}, the node has {}", op, count_of(sig.min_inputs, "input"), inputs)
               : fmt::format("{} takes {} to {} inputs, the node has {}", op, sig.min_inputs, sig.max_inputs, inputs);
  if (outputs < sig.min_outputs || (sig.max_outputs >= 0 && outputs > sig.max_outputs))
    return sig.min_outputs == sig.max_outputs
               ? fmt::format("{} has {}, the node lists {}", op, count_of(sig.min_outputs, "output"), outputs)
               : fmt::format("{} has {} to {} outputs, the node lists {}", op, sig.min_outputs,
                             sig.max_outputs < 0 ? std::string("any number of") : std::to_string(sig.max_outputs),
                             outputs);
  for (int i = 0; i < sig.min_inputs; ++i)
    if (node.inputs[i].empty()) return fmt::format("{}'s input {} is required, the node leaves it out", op, i);
  for (const auto& [name, value] : node.attributes)
    if (std::find(sig.attributes.begin(), sig.attributes.end(), name) == sig.attributes.end())
      return sig.attributes.empty()
                 ? fmt::format("{} has no attributes, the node sets '{}'", op, name)
                 : fmt::format("'{}' is not an attribute of {} (it has {})", name, op, fmt::join(sig.attributes, ", "));
  return "";
}

}  // namespace onnx_train
