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
