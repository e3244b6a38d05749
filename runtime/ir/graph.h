// The graph IR: a plain, ONNX-shaped view of a model that kernels and the gradient builder
// work on without touching protobuf.
//
// The importer builds it from an onnx::ModelProto (importers/onnx_model.h); values are
// named by string as in ONNX, an empty input name is an omitted optional input. Nodes are
// kept in topological order. Each node records the opset schema version that defines its
// semantics (`since_version`), which is what kernels are chosen by.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "onnx_train/tensor.h"

namespace onnx_train {

// The model file as the user gave it (importers/model_source.h), kept for export; opaque here.
class ModelSource;

// The project's own ONNX domain, for ops ONNX does not define (the gradient-only ops);
// its ops are versioned by the domain's opset version.
inline const char* const kProjectDomain = "ai.onnx_train";
// ONNX's training ops (Gradient, Adam, Adagrad, Momentum).
inline const char* const kOnnxTrainingDomain = "ai.onnx.preview.training";

struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Floats, Ints, Strings, Graph, Other };
  Kind kind = Kind::Other;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  // Builders, for code that makes nodes (gradient rules, tests): Attribute::of_int(1).
  static Attribute of_int(int64_t value);
  static Attribute of_float(float value);
  static Attribute of_string(std::string value);
  static Attribute of_ints(std::vector<int64_t> values);
  static Attribute of_floats(std::vector<float> values);
  static Attribute of_strings(std::vector<std::string> values);
  static Attribute of_tensor(Tensor value);
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;     // "" for the default ONNX domain ("ai.onnx")
  int since_version = 0;  // the schema version in force for this node's domain opset
  int opset = 0;          // the model's opset import for this node's domain
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  // "node 'conv1' (Conv, opset 13)" for error messages.
  std::string label() const;

  bool has_attr(const std::string& key) const { return attributes.count(key) != 0; }
  // Typed attribute access; the one-argument forms throw a clear error when it is missing.
  int64_t attr_int(const std::string& key) const;
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key) const;
  std::vector<int64_t> attr_ints(const std::string& key, const std::vector<int64_t>& fallback) const;
  std::vector<float> attr_floats(const std::string& key) const;
  std::vector<float> attr_floats(const std::string& key, const std::vector<float>& fallback) const;
  std::vector<std::string> attr_strings(const std::string& key, const std::vector<std::string>& fallback) const;
  const Tensor& attr_tensor(const std::string& key) const;

  // Optional inputs: present when listed with a non-empty name.
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }

 private:
  const Attribute& attr(const std::string& key, Attribute::Kind kind) const;
};

// What is known statically about a value: element type and shape, where a dimension is
// either fixed (>= 0) or symbolic (-1, with its name in dim_params when the model gives one).
struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  bool is_tensor = true;         // false for sequence, map and optional values
  std::string type_description;  // for non-tensors: what it is, for error messages
  std::optional<Shape> shape;    // nullopt: rank unknown
  std::vector<std::string> dim_params;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;        // topological order
  std::vector<ValueInfo> inputs;  // inputs a caller feeds (initializers excluded)
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  // Graph inputs that also have an initializer (old-style models, IR < 4): a caller may
  // feed them to override the stored value.
  std::vector<ValueInfo> overridable_initializers;
  std::map<std::string, ValueInfo> value_info;  // inferred types of intermediates
  std::map<std::string, int> opsets;            // domain -> opset version
  // The file the graph was loaded from, as given (null for a graph built in memory): what the
  // export writes the trained values into (importers/model_source.h). Copies share it.
  std::shared_ptr<const ModelSource> source;
  // Values the model reads as settings rather than weights, named by the loader where the op
  // that read them is gone from the graph (a rotary embedding's cos/sin caches and an attention
  // mask or past, once RotaryEmbedding-23 and Attention-23 are lowered): training never
  // trains them, as PyTorch keeps such tensors as buffers.
  std::set<std::string> settings;

  const ValueInfo* find_value_info(const std::string& name) const;
  // A value's element type and shape: its initializer's, else its ValueInfo's
  // (Undefined / nullopt when unknown).
  DType dtype_of(const std::string& name) const;
  std::optional<Shape> shape_of(const std::string& name) const;
  // The node that outputs `name` (nullptr: an input, an initializer or unknown), and how many
  // node inputs read it.
  const Node* producer_of(const std::string& name) const;
  size_t uses_of(const std::string& name) const;

  // Nodes whose output is a weight stored as a Constant node (some exporters fold weights
  // that way): floating-point Constant nodes with at least `min_elements` elements.
  // A training session can turn them into initializers to make them trainable.
  std::vector<const Node*> constant_weight_nodes(int64_t min_elements = 2) const;
  // Turns the named Constant nodes into initializers (their output name stays the same).
  void promote_constants_to_initializers(const std::vector<std::string>& output_names);
  // torch.onnx.export stores parameters and buffers of equal value once and feeds the others
  // through Identity nodes (zero biases, a BatchNorm's zero running mean, LayerNorm's ones).
  // For inference that is the same; for training it would tie tensors that PyTorch keeps
  // apart (a running mean updated as a bias, two biases forced equal). This gives each
  // Identity-of-an-initializer output its own initializer (a copy, same name as the
  // Identity's output) and removes the Identity. Returns how many.
  size_t separate_deduplicated_initializers();
};

// Every value name a graph uses: initializers, inputs, outputs, typed values, node outputs.
// (GraphEditor::fresh, runtime/ir/editor.h, hands out names that none of them has.)
std::set<std::string> value_names(const Graph& graph);

// Reorders `graph.nodes` topologically (stable: keeps the given order where it can).
// Throws when a node reads a value that nothing produces or the graph has a cycle.
void sort_topologically(Graph& graph);

}  // namespace onnx_train
