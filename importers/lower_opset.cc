// Lowering opset 18-23 models to opset 17 at load (importers/lower_opset.h): the rule table, the
// context rules work through, the shape oracle and the driver.
//
// The driver reads the model's nodes into the IR (tensor attributes included) but not its
// initializers' data: initializers with a few elements (axes, pads, sizes: what rules read as
// constants) become IR initializers; the others only record their type and shape. Lowered nodes
// are written back over the ModelProto's node list, so the weights are never copied.
#include "importers/lower_opset.h"

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <unordered_map>

#include "importers/onnx_model.h"
#include "importers/shape_inference_guard.h"
#include "importers/tensor_proto.h"

namespace onnx_train {

// ---------------------------------------------------------------- the rule table

namespace {

std::vector<std::pair<const char*, LoweringFamily>>& families() {
  static std::vector<std::pair<const char*, LoweringFamily>> registered;
  return registered;
}

// Initializers with at most this many elements are read at load, for rules to use as constants.
constexpr int64_t kConstantElements = 4096;

}  // namespace

LoweringFamilyRegistrar::LoweringFamilyRegistrar(const char* family, LoweringFamily add) {
  families().emplace_back(family, add);
}

const std::vector<LoweringRule>& lowering_rules() {
  static std::vector<LoweringRule> rules;
  static std::once_flag once;
  std::call_once(once, [] {
    auto sorted = families();
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return std::string(a.first) < std::string(b.first); });
    for (const auto& [name, add] : sorted) add(rules);
    std::sort(rules.begin(), rules.end(), [](const LoweringRule& a, const LoweringRule& b) {
      return std::tie(a.op_type, a.since_version) < std::tie(b.op_type, b.since_version);
    });
    for (size_t i = 1; i < rules.size(); ++i)
      OT_CHECK(rules[i].op_type != rules[i - 1].op_type || rules[i].since_version != rules[i - 1].since_version,
               "two lowerings are registered for {}-{}", rules[i].op_type, rules[i].since_version);
  });
  return rules;
}

namespace {

const LoweringRule* find_rule(const std::string& op_type, int version) {
  for (const LoweringRule& r : lowering_rules())
    if (r.op_type == op_type && r.since_version == version) return &r;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------- shapes

// Types and shapes of values above the node being lowered: what the model states (inputs,
// initializers, value_info), completed on demand by ONNX's shape inference over the lowered
// graph so far (all opset 17 by then, so ONNX 1.12 knows every op in it).
class ShapeOracle {
 public:
  // `write_node(i, proto)` writes the lowered graph's node i (a copied node as the model had it).
  using NodeWriter = std::function<void(size_t, onnx::NodeProto&)>;
  ShapeOracle(Graph& lowered, std::vector<ValueInfo> initializer_types, NodeWriter write_node)
      : lowered_(lowered), initializer_types_(std::move(initializer_types)), write_node_(std::move(write_node)) {}

  void ensure_known(const std::string& value) {
    if (lowered_.dtype_of(value) != DType::Undefined && lowered_.shape_of(value)) return;
    if (inferred_nodes_ == lowered_.nodes.size()) return;  // nothing new since the last inference
    infer();
  }

 private:
  // Infers the nodes added since the last inference, as a model of their own: what they read
  // from above is fed as typed inputs (small initializers and Constant nodes as themselves, so
  // that shape inference can read their values), so each node is inferred once.
  void infer() {
    const size_t first = inferred_nodes_ == kNone ? 0 : inferred_nodes_;
    onnx::ModelProto model;
    model.set_ir_version(8);
    for (const auto& [domain, version] : lowered_.opsets) {
      auto* imp = model.add_opset_import();
      imp->set_domain(domain);
      imp->set_version(version);
    }
    auto* g = model.mutable_graph();
    g->set_name("lowering");
    std::set<std::string> available;
    for (size_t i = first; i < lowered_.nodes.size(); ++i)
      for (const auto& o : lowered_.nodes[i].outputs) available.insert(o);
    for (size_t i = first; i < lowered_.nodes.size(); ++i)
      for (const auto& in : lowered_.nodes[i].inputs)
        if (!in.empty() && available.insert(in).second) feed(in, *g);
    for (size_t i = first; i < lowered_.nodes.size(); ++i) write_node_(i, *g->add_node());
    try {
      infer_shapes(model);
    } catch (const InferenceRefused&) {
      throw;  // the model is wrong before any lowering: load_onnx_model names the op
    } catch (const std::exception&) {
      // What could not be inferred stays unknown; a rule that needs it says so.
    }
    for (const auto& vi : model.graph().value_info()) {
      ValueInfo info = value_info_from_proto(vi);
      auto& known = lowered_.value_info[vi.name()];
      if (known.dtype == DType::Undefined || !known.shape) known = std::move(info);
    }
    inferred_nodes_ = lowered_.nodes.size();
  }

  // Gives the batch model `value`, which its nodes read from above: a small initializer or a
  // Constant node as it is, anything else as a graph input of its known type.
  void feed(const std::string& value, onnx::GraphProto& g) {
    const auto init = lowered_.initializers.find(value);
    if (init != lowered_.initializers.end()) {
      auto* proto = g.add_initializer();
      tensor_to_proto(init->second, *proto);
      proto->set_name(value);
      return;
    }
    for (; indexed_nodes_ < lowered_.nodes.size(); ++indexed_nodes_)
      for (const auto& o : lowered_.nodes[indexed_nodes_].outputs) producer_[o] = indexed_nodes_;
    const auto producer = producer_.find(value);
    if (producer != producer_.end() && lowered_.nodes[producer->second].op_type == "Constant") {
      write_node_(producer->second, *g.add_node());
      return;
    }
    ValueInfo info;
    info.name = value;
    info.dtype = lowered_.dtype_of(value);
    info.shape = lowered_.shape_of(value);
    if (const ValueInfo* known = lowered_.find_value_info(value)) info.dim_params = known->dim_params;
    if (info.dtype != DType::Undefined) value_info_to_proto(info, *g.add_input());
  }

  static constexpr size_t kNone = static_cast<size_t>(-1);
  Graph& lowered_;
  std::vector<ValueInfo> initializer_types_;
  NodeWriter write_node_;
  size_t inferred_nodes_ = kNone;
  std::unordered_map<std::string, size_t> producer_;  // output -> index of its node, for the first indexed_nodes_
  size_t indexed_nodes_ = 0;
};

// ---------------------------------------------------------------- the context

LoweringContext::LoweringContext(const Node& node, GraphEditor& editor, ShapeOracle& shapes, const std::string& path)
    : node_(node), editor_(editor), shapes_(shapes), path_(path) {}

Node& LoweringContext::emit(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                            std::map<std::string, Attribute> attributes, const std::string& domain, bool keep_name) {
  return editor_.add(op, std::move(inputs), std::move(outputs), std::move(attributes), domain,
                     keep_name ? node_.name : std::string());
}

void LoweringContext::keep(std::map<std::string, Attribute> attributes) {
  emit(node_.op_type, node_.inputs, node_.outputs, std::move(attributes), node_.domain);
}

std::optional<Tensor> LoweringContext::constant(const std::string& value) const {
  if (value.empty()) return std::nullopt;
  const Graph& g = editor_.graph();
  const auto init = g.initializers.find(value);
  if (init != g.initializers.end()) return init->second;
  const Node* producer = g.producer_of(value);
  if (producer == nullptr || producer->op_type != "Constant" || !producer->domain.empty()) return std::nullopt;
  const auto attr = producer->attributes.find("value");
  if (attr != producer->attributes.end() && attr->second.kind == Attribute::Kind::Tensor) return attr->second.t;
  if (producer->has_attr("value_ints")) {
    const auto ints = producer->attr_ints("value_ints");
    return Tensor::from<int64_t>({static_cast<int64_t>(ints.size())}, ints);
  }
  if (producer->has_attr("value_int")) return Tensor::scalar<int64_t>(producer->attr_int("value_int"));
  return std::nullopt;
}

std::optional<std::vector<int64_t>> LoweringContext::constant_ints(const std::string& value) const {
  const std::optional<Tensor> t = constant(value);
  if (!t) return std::nullopt;
  std::vector<int64_t> out;
  if (t->dtype() == DType::Int64) {
    const auto* p = t->data<int64_t>();
    out.assign(p, p + t->numel());
  } else if (t->dtype() == DType::Int32) {
    const auto* p = t->data<int32_t>();
    out.assign(p, p + t->numel());
  } else {
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<int64_t>> LoweringContext::required_constant_ints(size_t index, const std::string& what) const {
  if (!node_.has_input(index)) return std::nullopt;
  auto values = constant_ints(node_.inputs[index]);
  if (!values)
    fail(fmt::format("its {} (input {}, '{}') must be a constant int64 tensor (an initializer or a Constant node) "
                     "for onnx-train to lower it to opset 17",
                     what, index, node_.inputs[index]));
  return values;
}

DType LoweringContext::dtype(const std::string& value) {
  shapes_.ensure_known(value);
  return editor_.graph().dtype_of(value);
}

std::optional<Shape> LoweringContext::shape(const std::string& value) {
  shapes_.ensure_known(value);
  return editor_.graph().shape_of(value);
}

std::optional<int64_t> LoweringContext::rank(const std::string& value) {
  const auto s = shape(value);
  if (!s) return std::nullopt;
  return static_cast<int64_t>(s->size());
}

int64_t LoweringContext::required_rank(const std::string& value, const std::string& what) {
  const auto r = rank(value);
  if (!r)
    fail(fmt::format("{} needs the rank of '{}', which neither the model's value_info nor shape inference gives; "
                     "export the model with input shapes (or run onnx.shape_inference on it)",
                     what, value));
  return *r;
}

std::vector<int64_t> LoweringContext::normalized_axes(std::vector<int64_t> axes, int64_t rank,
                                                      const std::string& what) const {
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) fail(fmt::format("{} {} is out of range for an input of rank {}", what, a, rank));
    if (a < 0) a += rank;
  }
  return axes;
}

void LoweringContext::fail(const std::string& detail) const {
  throw Error(fmt::format("{}: {}", node_.label(), detail));
}

Tensor float_tensor(DType dtype, Shape shape, const std::vector<double>& values) {
  OT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "float_tensor: {} is not float32 or float64",
           dtype_name(dtype));
  Tensor t(dtype, std::move(shape));
  OT_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "float_tensor: {} values for {}", values.size(),
           shape_str(t.shape()));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::Float64)
      t.data<double>()[i] = values[i];
    else
      t.data<float>()[i] = static_cast<float>(values[i]);
  }
  return t;
}

// ---------------------------------------------------------------- the driver

namespace {

// The model's graph as the lowering starts it: inputs, value_info, small initializers with
// their values and the types of the others; no nodes yet, opset 17.
struct LoweringStart {
  Graph lowered;
  std::vector<ValueInfo> initializer_types;  // the initializers not read
};

LoweringStart lowering_start(const onnx::ModelProto& model, const std::string& model_dir, const std::string& path) {
  const auto& g = model.graph();
  LoweringStart start;
  Graph& out = start.lowered;
  for (const auto& imp : model.opset_import())
    out.opsets[imp.domain() == "ai.onnx" ? "" : imp.domain()] = static_cast<int>(imp.version());
  out.opsets[""] = kMaxOpset;
  std::set<std::string> initializer_names;
  for (const auto& init : g.initializer()) {
    initializer_names.insert(init.name());
    int64_t elements = 1;
    for (int64_t d : init.dims()) elements = d < 0 || d > kConstantElements ? kConstantElements + 1 : elements * d;
    if (elements <= kConstantElements) {
      out.initializers[init.name()] =
          tensor_from_proto(init, model_dir, fmt::format("{}: initializer '{}'", path, init.name()));
      continue;
    }
    ValueInfo info;
    info.name = init.name();
    info.dtype = static_cast<DType>(init.data_type());
    info.shape = Shape(init.dims().begin(), init.dims().end());
    out.value_info[init.name()] = info;
    start.initializer_types.push_back(std::move(info));
  }
  for (const auto& in : g.input())
    if (!initializer_names.count(in.name())) out.inputs.push_back(value_info_from_proto(in));
  for (const auto& vi : g.value_info()) out.value_info.emplace(vi.name(), value_info_from_proto(vi));
  return start;
}

// The lowered graph as it grows, and for each of its nodes the model's NodeProto it copies
// (nullptr for a node a rule made): copied nodes are written back as the model had them, so that
// what the IR does not hold (subgraphs, doc strings) is kept.
struct LoweredNodes {
  Graph& graph;
  std::vector<const onnx::NodeProto*> origin;

  void write(size_t i, onnx::NodeProto& proto) const {
    if (i < origin.size() && origin[i] != nullptr) {
      proto = *origin[i];
      proto.set_name(graph.nodes[i].name);
    } else {
      node_to_proto(graph.nodes[i], proto);
    }
  }
};

// One node into the lowered graph: copied when its op means at the model's opset what it meant
// at 17, else through its rule. Returns the problem, or "" when it was lowered.
std::string lower_node(Node node, const onnx::NodeProto& proto, LoweredNodes& out, GraphEditor& editor,
                       ShapeOracle& shapes, const std::string& path) {
  const int version = node.domain.empty() ? lowered_version(node.op_type, node.opset) : 0;
  if (version == 0) {
    node.opset = editor.opset(node.domain);
    node.since_version = schema_version(node.op_type, node.opset, node.domain);
    out.graph.nodes.push_back(std::move(node));
    out.origin.push_back(&proto);
    return "";
  }
  node.since_version = version;
  const std::string problem = signature_problem(node, version);
  if (!problem.empty()) return fmt::format("{}: {}", node.label(), problem);
  const LoweringRule* rule = find_rule(node.op_type, version);
  if (rule == nullptr)
    return fmt::format("{}: {}-{} is not supported (onnx-train runs opset 18-23 models by lowering each op "
                       "version they introduced; `onnx-train ops` lists those it covers)",
                       node.label(), node.op_type, version);
  try {
    editor.set_node_prefix(node.name + "/");  // what the checker says of a new node names the user's node
    LoweringContext cx(node, editor, shapes, path);
    rule->lower(cx);
  } catch (const Error& e) {
    out.origin.resize(out.graph.nodes.size(), nullptr);
    return e.what();
  }
  out.origin.resize(out.graph.nodes.size(), nullptr);
  return "";
}

// The lowered nodes and opset imports over the model's.
void write_back(const LoweredNodes& lowered, onnx::ModelProto& model) {
  onnx::GraphProto* g = model.mutable_graph();
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (size_t i = 0; i < lowered.graph.nodes.size(); ++i) lowered.write(i, *nodes.Add());
  g->mutable_node()->Swap(&nodes);
  std::set<std::string> used_domains;
  for (const Node& n : lowered.graph.nodes) used_domains.insert(n.domain);
  model.clear_opset_import();
  for (const auto& [domain, version] : lowered.graph.opsets) {
    if (domain == kProjectDomain && !used_domains.count(domain)) continue;
    auto* imp = model.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  // Opset 17 is IR version 8; a newer IR version's fields are not used by an opset-17 model.
  if (model.ir_version() > 8) model.set_ir_version(8);
}

std::string problems_message(const std::string& path, int opset, const std::vector<std::string>& problems,
                             const std::set<std::string>& unsupported) {
  std::string message = fmt::format("{}: the opset-{} model cannot be lowered to opset {} ({} problem{}):", path,
                                    opset, kMaxOpset, problems.size(), problems.size() == 1 ? "" : "s");
  for (const auto& p : problems) message += "\n  - " + p;
  if (!unsupported.empty()) message += fmt::format("\nUnsupported op versions: {}.", fmt::join(unsupported, ", "));
  return message;
}

}  // namespace

std::string lowering_note(const onnx::ModelProto& model, const std::string& path) {
  const int opset = imported_opset(model, "");
  if (opset <= kMaxOpset) return "";
  std::map<std::string, int> counts;
  int nodes = 0;
  auto count = [&](const google::protobuf::RepeatedPtrField<onnx::NodeProto>& body, int body_opset) {
    for (const auto& n : body) {
      if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
      const int version = lowered_version(n.op_type(), body_opset);
      if (version == 0) continue;
      ++counts[fmt::format("{}-{}", n.op_type(), version)];
      ++nodes;
    }
  };
  count(model.graph().node(), opset);
  for (const auto& f : model.functions()) {
    int function_opset = opset;
    for (const auto& imp : f.opset_import())
      if (imp.domain().empty() || imp.domain() == "ai.onnx") function_opset = static_cast<int>(imp.version());
    count(f.node(), function_opset);
  }
  std::vector<std::string> parts;
  for (const auto& [op, n] : counts) parts.push_back(fmt::format("{} x{}", op, n));
  if (nodes == 0)
    return fmt::format("{} is at opset {}: every node means what it meant at opset {}; the export keeps opset {}",
                       path, opset, kMaxOpset, opset);
  return fmt::format("{} is at opset {}: {} {} lowered to opset-{} ops ({}); the export keeps opset {}", path, opset,
                     nodes, nodes == 1 ? "node runs" : "nodes run", kMaxOpset, fmt::join(parts, ", "), opset);
}

namespace {

// The inputs of new op versions that are settings, not weights (Graph::settings).
std::vector<int> setting_inputs(const std::string& op_type) {
  if (op_type == "RotaryEmbedding") return {1, 2, 3};  // cos_cache, sin_cache, position_ids
  if (op_type == "Attention") return {3, 4, 5};        // attn_mask, past_key, past_value
  return {};
}

}  // namespace

std::set<std::string> lower_to_opset17(onnx::ModelProto& model, const std::string& path) {
  const std::string model_dir = std::filesystem::path(path).parent_path().string();
  const int opset = imported_opset(model, "");
  LoweringStart start = lowering_start(model, model_dir, path);
  LoweredNodes lowered{start.lowered, {}};
  lowered.graph.opsets.emplace(kProjectDomain, 1);
  GraphEditor editor(lowered.graph, fmt::format("{}: lowering to opset {}", path, kMaxOpset));
  // Names the model uses further down are not handed out to the nodes rules make.
  for (const auto& n : model.graph().node()) {
    editor.reserve(n.name());
    for (const auto& o : n.output()) editor.reserve(o);
  }
  ShapeOracle shapes(lowered.graph, std::move(start.initializer_types),
                     [&lowered](size_t i, onnx::NodeProto& proto) { lowered.write(i, proto); });

  std::vector<std::string> problems;
  std::set<std::string> unsupported;
  int index = 0;
  std::set<std::string> settings;
  for (const auto& proto : model.graph().node()) {
    Node node = node_from_proto(proto, index++, model_dir, path);
    if (node.domain.empty())
      for (int i : setting_inputs(node.op_type))
        if (node.has_input(i)) settings.insert(node.inputs[i]);
    node.opset = imported_opset(model, node.domain);
    const int version = node.domain.empty() ? lowered_version(node.op_type, node.opset) : 0;
    const bool covered = version == 0 || find_rule(node.op_type, version) != nullptr;
    const std::string op = fmt::format("{}-{}", node.op_type, version);
    std::string problem = lower_node(std::move(node), proto, lowered, editor, shapes, path);
    if (problem.empty()) continue;
    problems.push_back(std::move(problem));
    if (!covered) unsupported.insert(op);
  }
  if (!problems.empty()) throw Error(problems_message(path, opset, problems, unsupported));
  write_back(lowered, model);
  return settings;
}

}  // namespace onnx_train
