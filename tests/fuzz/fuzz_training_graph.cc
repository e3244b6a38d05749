// Fuzz target: structured mutations of valid models, then the training graph built the way
// `onnx-train train` builds it and one training step.
//
// The first byte picks a base model (the bundled fashion CNN and test fixtures: an MLP, a
// CNN, BatchNormalization and Dropout in training form, a transformer block, RNN/GRU/LSTM),
// the second the loss (cross-entropy on the first output, as the CLI defaults to, or MSE);
// the rest is read 5 bytes at a time as mutations of the ModelProto: a dimension of a graph
// input/output/value_info or of an initializer, an attribute's value or type, a node's op
// type, input or output name, a node dropped or duplicated, an initializer's data type or
// raw_data length, a graph input or output removed, the opset changed. The result is written
// to a file and given to TrainingSession::from_file (load, checker, shape inference, training
// form, loss, gradients, plans); when that succeeds, one train_step runs on zero-filled
// inputs of at most fuzz::kMaxFeedElements elements. onnx_train::Error is expected; anything
// else escaping, a crash or a sanitizer report is a finding.
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "onnx_train/error.h"
#include "onnx_train/training_session.h"
#include "tests/fuzz/fuzz_feeds.h"
#include "tests/fuzz/scratch_file.h"

namespace {

std::vector<onnx::ModelProto>& base_models() {
  static std::vector<onnx::ModelProto> models;
  return models;
}

const char* const kBaseModels[] = {
    "tests/data/train_parity/mlp/model.onnx",
    "tests/data/train_parity/cnn/model.onnx",
    "tests/data/train_mode_parity/opset15/model.onnx",                    // BatchNormalization
    "tests/data/train_mode_parity/opset15_training_export/model.onnx",    // training form, Dropout
    "tests/data/train_parity/transformer/model.onnx",
    "tests/data/train_parity/resnet_block/model.onnx",
    "tests/data/torch_parity/rnn/model.onnx",
    "tests/data/torch_parity/gru/model.onnx",
    "tests/data/torch_parity/lstm/model.onnx",
    "models/fashion_cnn/model.onnx",
};

const char* const kOpTypes[] = {
    "Relu", "Tanh", "Sigmoid", "Identity", "Add", "Mul", "Sub", "Div", "MatMul", "Gemm", "Conv", "MaxPool",
    "AveragePool", "GlobalAveragePool", "BatchNormalization", "Dropout", "Flatten", "Reshape", "Transpose",
    "Softmax", "LogSoftmax", "LayerNormalization", "Concat", "Gather", "Slice", "Shape", "Unsqueeze",
    "Squeeze", "ReduceMean", "ReduceSum", "Pad", "Constant", "ConstantOfShape", "Expand", "Cast", "Where",
    "RNN", "GRU", "LSTM", "Sqrt", "Pow", "Exp", "Log", "Erf", "Split", "Tile", "Clip", "Equal", "Neg",
    "NoSuchOp",
};

const int64_t kDims[] = {-1, 0, 1, 2, 3, 5, 8, 16, 1 << 20, std::numeric_limits<int64_t>::max(),
                         std::numeric_limits<int64_t>::min(), -7};

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  bool more() const { return pos < size; }
  uint8_t byte() { return pos < size ? data[pos++] : 0; }
};

template <typename Field>
auto* pick(Field* field, uint8_t b) {
  return field->empty() ? nullptr : field->Mutable(b % field->size());
}

onnx::TensorShapeProto::Dimension* pick_dim(onnx::ValueInfoProto* v, uint8_t b) {
  if (!v || !v->mutable_type()->has_tensor_type()) return nullptr;
  auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
  return shape->dim_size() == 0 ? nullptr : shape->mutable_dim(b % shape->dim_size());
}

// All value names of the graph, for rewiring.
std::vector<std::string> value_names(const onnx::GraphProto& g) {
  std::vector<std::string> names{"", "no_such_value"};
  for (const auto& v : g.input()) names.push_back(v.name());
  for (const auto& v : g.initializer()) names.push_back(v.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) names.push_back(o);
  return names;
}

void mutate(onnx::ModelProto& model, uint8_t op, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  onnx::GraphProto& g = *model.mutable_graph();
  const int64_t dim = kDims[c % std::size(kDims)];
  switch (op % 16) {
    case 0: {  // a dim of an input, output or value_info
      onnx::ValueInfoProto* v = nullptr;
      switch (a % 3) {
        case 0: v = pick(g.mutable_input(), b); break;
        case 1: v = pick(g.mutable_output(), b); break;
        default: v = pick(g.mutable_value_info(), b); break;
      }
      if (auto* dm = pick_dim(v, d)) {
        if (dim == -1) dm->set_dim_param("n");
        else dm->set_dim_value(dim);
      }
      break;
    }
    case 1: {  // a dim of an initializer
      auto* t = pick(g.mutable_initializer(), a);
      if (t && t->dims_size() > 0) t->set_dims(b % t->dims_size(), dim);
      else if (t) t->add_dims(dim);
      break;
    }
    case 2: {  // an attribute's value
      auto* n = pick(g.mutable_node(), a);
      auto* at = n ? pick(n->mutable_attribute(), b) : nullptr;
      if (!at) break;
      const int64_t v = (d & 1) ? dim : static_cast<int8_t>(d) / 2;
      at->set_i(v);
      at->set_f(static_cast<float>(v) / 4);
      if (at->ints_size() > 0) at->set_ints(c % at->ints_size(), v);
      if (d & 2) at->add_ints(v);
      if ((d & 12) == 12) at->clear_ints();
      if (at->floats_size() > 0) at->set_floats(0, static_cast<float>(v));
      if (at->has_t()) at->mutable_t()->add_dims(v);
      break;
    }
    case 3: {  // an attribute's type or name
      auto* n = pick(g.mutable_node(), a);
      auto* at = n ? pick(n->mutable_attribute(), b) : nullptr;
      if (!at) break;
      if (d & 1) at->set_name(d & 2 ? "axis" : "no_such_attribute");
      else at->set_type(static_cast<onnx::AttributeProto::AttributeType>(c % 15));
      break;
    }
    case 4: {  // an op type
      if (auto* n = pick(g.mutable_node(), a)) n->set_op_type(kOpTypes[b % std::size(kOpTypes)]);
      break;
    }
    case 5: {  // a node input
      auto* n = pick(g.mutable_node(), a);
      if (!n) break;
      const auto names = value_names(g);
      if (n->input_size() > 0 && !(d & 1)) n->set_input(b % n->input_size(), names[c % names.size()]);
      else n->add_input(names[c % names.size()]);
      break;
    }
    case 6: {  // a node output
      auto* n = pick(g.mutable_node(), a);
      if (!n || n->output_size() == 0) break;
      const auto names = value_names(g);
      n->set_output(b % n->output_size(), names[c % names.size()]);
      break;
    }
    case 7: {  // drop a node
      if (g.node_size() > 0) g.mutable_node()->DeleteSubrange(a % g.node_size(), 1);
      break;
    }
    case 8: {  // duplicate a node
      if (g.node_size() > 0) {
        const int i = a % g.node_size();
        onnx::NodeProto copy = g.node(i);
        if (b & 1) copy.clear_name();
        *g.add_node() = copy;
        if (b & 2)  // move it next to the original
          for (int j = g.node_size() - 1; j > i + 1; --j) g.mutable_node()->SwapElements(j, j - 1);
      }
      break;
    }
    case 9: {  // an initializer's data type
      if (auto* t = pick(g.mutable_initializer(), a)) t->set_data_type(b % 17);
      break;
    }
    case 10: {  // an initializer's raw_data length
      auto* t = pick(g.mutable_initializer(), a);
      if (!t) break;
      std::string* raw = t->mutable_raw_data();
      if (b & 1) raw->resize(raw->size() / (2 + c % 4));
      else raw->append(1 + c % 16, static_cast<char>(d));
      break;
    }
    case 11: {  // drop a graph input or output
      if (a & 1) {
        if (g.input_size() > 0) g.mutable_input()->DeleteSubrange(b % g.input_size(), 1);
      } else if (g.output_size() > 0) {
        g.mutable_output()->DeleteSubrange(b % g.output_size(), 1);
      }
      break;
    }
    case 12: {  // the element type of an input, output or value_info
      onnx::ValueInfoProto* v = (a & 1) ? pick(g.mutable_input(), b) : pick(g.mutable_output(), b);
      if (v && v->type().has_tensor_type()) v->mutable_type()->mutable_tensor_type()->set_elem_type(c % 17);
      break;
    }
    case 13: {  // the opset
      if (auto* o = pick(model.mutable_opset_import(), a)) o->set_version(static_cast<int8_t>(b) / 4 + 13);
      break;
    }
    case 14: {  // an initializer becomes a graph input too (old-style models), or goes
      auto* t = pick(g.mutable_initializer(), a);
      if (!t) break;
      if (b & 1) {
        auto* in = g.add_input();
        in->set_name(t->name());
        in->mutable_type()->mutable_tensor_type()->set_elem_type(t->data_type());
        for (int64_t x : t->dims()) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(x);
      } else {
        g.mutable_initializer()->DeleteSubrange(a % g.initializer_size(), 1);
      }
      break;
    }
    default: {  // a typed-data value of an initializer (float_data / int64_data) instead of raw
      auto* t = pick(g.mutable_initializer(), a);
      if (!t) break;
      if (t->data_type() == onnx::TensorProto::INT64) t->add_int64_data(dim);
      else t->add_float_data(static_cast<float>(dim));
      if (b & 1) t->clear_raw_data();
      break;
    }
  }
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* rel : kBaseModels) {
    const auto bytes = read_bytes(std::string(ONNX_TRAIN_SOURCE_DIR) + "/" + rel);
    onnx::ModelProto m;
    if (bytes.empty() || !m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      std::fprintf(stderr, "fuzz_training_graph: cannot read the base model %s\n", rel);
      std::abort();
    }
    base_models().push_back(std::move(m));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  onnx::ModelProto model = base_models()[r.byte() % base_models().size()];
  const uint8_t loss = r.byte();
  for (int i = 0; r.more() && i < 32; ++i) {
    const uint8_t op = r.byte(), a = r.byte(), b = r.byte(), c = r.byte(), d = r.byte();
    mutate(model, op, a, b, c, d);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return 0;
  const std::string path =
      fuzz::write_scratch("model.onnx", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());

  onnx_train::TrainingOptions options;
  if (loss & 1) options.loss.kind = onnx_train::LossKind::MSE;
  options.accumulation_steps = 1;
  try {
    auto session = onnx_train::TrainingSession::from_file(path, options);
    if (auto feeds = fuzz::zero_feeds(session.inputs())) {
      session.train_step(*feeds);
      if (std::getenv("ONNX_TRAIN_FUZZ_VERBOSE")) std::fprintf(stderr, "fuzz_training_graph: stepped\n");
    }
  } catch (const onnx_train::Error& e) {
    if (std::getenv("ONNX_TRAIN_FUZZ_VERBOSE")) std::fprintf(stderr, "%s: %s\n", "fuzz_training_graph", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_training_graph: escaped %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
