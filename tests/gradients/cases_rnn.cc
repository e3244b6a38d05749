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

// One LSTM / GRU / RNN row: the op, its direction and hidden size, and what it is given
// besides X, W and R.
struct RecurrentRow {
  RecurrentRow(std::string op_type, int op_opset, std::string op_direction, int64_t hidden_size)
      : op(std::move(op_type)), opset(op_opset), direction(std::move(op_direction)), hidden(hidden_size) {}

  RecurrentRow& batch_major() {  // layout 1
    layout = 1;
    return *this;
  }
  RecurrentRow& with_bias() {
    bias = true;
    return *this;
  }
  RecurrentRow& sequence_lens(std::vector<int32_t> values) {
    lengths = std::move(values);
    return *this;
  }
  RecurrentRow& with_initial_h() {
    initial_h = true;
    return *this;
  }
  RecurrentRow& with_initial_c() {  // LSTM
    initial_c = true;
    return *this;
  }
  RecurrentRow& with_peepholes() {  // LSTM
    peepholes = true;
    return *this;
  }
  RecurrentRow& attr(const std::string& name, int value) {
    int_attrs.emplace_back(name, value);
    return *this;
  }
  RecurrentRow& attr(const std::string& name, float value) {
    float_attrs.emplace_back(name, value);
    return *this;
  }

  std::string op;  // LSTM, GRU, RNN
  int opset;
  std::string direction;
  int64_t hidden;
  int64_t layout = 0;
  bool bias = false;
  std::vector<int32_t> lengths;  // sequence_lens; empty: not given
  bool initial_h = false;
  bool initial_c = false;
  bool peepholes = false;
  std::vector<std::pair<std::string, int64_t>> int_attrs;
  std::vector<std::pair<std::string, float>> float_attrs;
};

GradCase recurrent_case(const RecurrentRow& row) {
  const int64_t d = row.direction == "bidirectional" ? 2 : 1;
  const int64_t h = row.hidden;
  const int64_t gates = row.op == "LSTM" ? 4 : row.op == "GRU" ? 3 : 1;
  const Shape state = row.layout == 0 ? Shape{d, kBatch, h} : Shape{kBatch, d, h};
  GradCase c(row.op, row.opset);
  c.inputs(row.layout == 0 ? Shape{kSeq, kBatch, kInput} : Shape{kBatch, kSeq, kInput}, {d, gates * h, kInput},
           {d, gates * h, h})
      .output(row.layout == 0 ? Shape{kSeq, d, kBatch, h} : Shape{kBatch, kSeq, d, h});
  if (row.bias) c.input({d, 2 * gates * h});
  if (!row.lengths.empty()) c.fixed(4, Tensor::from<int32_t>({static_cast<int64_t>(row.lengths.size())}, row.lengths));
  if (row.initial_h) c.input(state);
  if (row.initial_c) c.input(state);
  if (row.peepholes) c.input({d, 3 * h});
  c.more_output(state);
  if (row.op == "LSTM") c.more_output(state);
  for (const auto& [name, value] : row.int_attrs) c.attr(name, value);
  c.attr("hidden_size", h);
  if (row.layout != 0) c.attr("layout", row.layout);
  for (const auto& [name, value] : row.float_attrs) c.attr(name, value);
  c.attr("direction", row.direction);
  return c;
}

}  // namespace

ONNX_TRAIN_GRAD_CASES(rnn) {
  const float wide_clip = 50.0f;
  using R = RecurrentRow;
  const std::vector<RecurrentRow> rows = {
      // LSTM
      R("LSTM", 7, "forward", 2),
      R("LSTM", 7, "reverse", 2).with_bias().sequence_lens({3, 0}).with_initial_h().with_initial_c(),
      R("LSTM", 14, "bidirectional", 2)
          .with_bias()
          .sequence_lens({2, 3})
          .with_initial_h()
          .with_initial_c()
          .with_peepholes()
          .attr("clip", wide_clip),
      R("LSTM", 14, "forward", 2)
          .batch_major()
          .with_bias()
          .sequence_lens({3, 1})
          .with_initial_h()
          .with_initial_c()
          .with_peepholes(),
      R("LSTM", 14, "reverse", 2)
          .with_bias()
          .sequence_lens({2, 3})
          .with_initial_h()
          .with_initial_c()
          .with_peepholes()
          .attr("input_forget", 1),
      R("LSTM", 14, "bidirectional", 2).batch_major().with_bias(),
      // GRU
      R("GRU", 7, "forward", 3),
      R("GRU", 7, "reverse", 3).with_bias().sequence_lens({2, 3}).with_initial_h().attr("linear_before_reset", 1),
      R("GRU", 14, "bidirectional", 3).with_bias().sequence_lens({3, 1}).with_initial_h().attr("clip", wide_clip),
      R("GRU", 14, "bidirectional", 3)
          .batch_major()
          .with_bias()
          .sequence_lens({1, 3})
          .with_initial_h()
          .attr("linear_before_reset", 1),
      R("GRU", 14, "forward", 2).with_bias().attr("linear_before_reset", 1).attr("clip", wide_clip),
      // RNN
      R("RNN", 7, "forward", 2),
      R("RNN", 7, "reverse", 2).with_bias().sequence_lens({1, 3}).with_initial_h(),
      R("RNN", 14, "bidirectional", 2).with_bias().sequence_lens({3, 2}).with_initial_h().attr("clip", wide_clip),
      R("RNN", 14, "bidirectional", 2).batch_major().with_bias(),
      R("RNN", 14, "reverse", 3).batch_major().with_bias().sequence_lens({2, 0}).with_initial_h(),
  };
  std::vector<GradCase> cases;
  for (const RecurrentRow& row : rows) cases.push_back(recurrent_case(row));
  return cases;
}

}  // namespace onnx_train::testing
