// Gradient check rows of the rules in gradients/rules/rnn.cc.
//
// Sizes: seq_length 3, batch 2, input 3, hidden 2 (LSTM, RNN) or 3 (GRU). Every row weighs
// all outputs (Y, Y_h and LSTM's Y_c). The inputs X, W, R, B are followed by a fixed
// sequence_lens (int32) when initial states or peepholes are given; clip rows use a clip
// far outside the pre-activations' range. The activations attribute (a string list) cannot
// be given in a row: non-default activations are checked in tests/kernels/rnn_grad_test.cc.
#include "tests/gradients/gradcheck_cases.h"

namespace onnx_train::testing {

namespace {

constexpr int64_t kSeq = 3, kBatch = 2, kInput = 3;

struct RecurrentRow {
  std::string op;  // LSTM, GRU, RNN
  int opset;
  std::string direction;
  int64_t hidden;
  int64_t layout = 0;
  bool bias = false;
  std::vector<int32_t> lengths = {};  // sequence_lens; empty: not given
  bool initial_h = false;
  bool initial_c = false;  // LSTM
  bool peepholes = false;  // LSTM
  std::vector<std::pair<std::string, int64_t>> int_attrs = {};
  std::vector<std::pair<std::string, float>> float_attrs = {};
};

GradCase recurrent_case(const RecurrentRow& row) {
  const int64_t d = row.direction == "bidirectional" ? 2 : 1;
  const int64_t h = row.hidden;
  const int64_t gates = row.op == "LSTM" ? 4 : row.op == "GRU" ? 3 : 1;
  const Shape state = row.layout == 0 ? Shape{d, kBatch, h} : Shape{kBatch, d, h};
  GradCase c;
  c.op = row.op;
  c.opset = row.opset;
  c.inputs = {row.layout == 0 ? Shape{kSeq, kBatch, kInput} : Shape{kBatch, kSeq, kInput}, Shape{d, gates * h, kInput},
              Shape{d, gates * h, h}};
  if (row.bias) c.inputs.push_back({d, 2 * gates * h});
  if (!row.lengths.empty())
    c.fixed_inputs = {{4, Tensor::from<int32_t>({static_cast<int64_t>(row.lengths.size())}, row.lengths)}};
  if (row.initial_h) c.inputs.push_back(state);
  if (row.initial_c) c.inputs.push_back(state);
  if (row.peepholes) c.inputs.push_back({d, 3 * h});
  c.output = row.layout == 0 ? Shape{kSeq, d, kBatch, h} : Shape{kBatch, kSeq, d, h};
  c.more_outputs = {state};
  if (row.op == "LSTM") c.more_outputs.push_back(state);
  c.int_attrs = row.int_attrs;
  c.int_attrs.emplace_back("hidden_size", h);
  if (row.layout != 0) c.int_attrs.emplace_back("layout", row.layout);
  c.float_attrs = row.float_attrs;
  c.string_attrs = {{"direction", row.direction}};
  return c;
}

}  // namespace

std::vector<GradCase> rnn_grad_cases() {
  const std::vector<std::pair<std::string, float>> wide_clip = {{"clip", 50.0f}};
  const std::vector<RecurrentRow> rows = {
      // LSTM
      {"LSTM", 7, "forward", 2},
      {"LSTM", 7, "reverse", 2, 0, true, {3, 0}, true, true},
      {"LSTM", 14, "bidirectional", 2, 0, true, {2, 3}, true, true, true, {}, wide_clip},
      {"LSTM", 14, "forward", 2, 1, true, {3, 1}, true, true, true},
      {"LSTM", 14, "reverse", 2, 0, true, {2, 3}, true, true, true, {{"input_forget", 1}}},
      {"LSTM", 14, "bidirectional", 2, 1, true},
      // GRU
      {"GRU", 7, "forward", 3},
      {"GRU", 7, "reverse", 3, 0, true, {2, 3}, true, false, false, {{"linear_before_reset", 1}}},
      {"GRU", 14, "bidirectional", 3, 0, true, {3, 1}, true, false, false, {}, wide_clip},
      {"GRU", 14, "bidirectional", 3, 1, true, {1, 3}, true, false, false, {{"linear_before_reset", 1}}},
      {"GRU", 14, "forward", 2, 0, true, {}, false, false, false, {{"linear_before_reset", 1}}, wide_clip},
      // RNN
      {"RNN", 7, "forward", 2},
      {"RNN", 7, "reverse", 2, 0, true, {1, 3}, true},
      {"RNN", 14, "bidirectional", 2, 0, true, {3, 2}, true, false, false, {}, wide_clip},
      {"RNN", 14, "bidirectional", 2, 1, true, {}, false},
      {"RNN", 14, "reverse", 3, 1, true, {2, 0}, true},
  };
  std::vector<GradCase> cases;
  for (const RecurrentRow& row : rows) cases.push_back(recurrent_case(row));
  return cases;
}

}  // namespace onnx_train::testing
