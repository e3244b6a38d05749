#include "importers/onnx_model.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "importers/checkpoint_file.h"
#include "importers/inline_functions.h"
#include "importers/lower_opset.h"
#include "importers/model_source.h"
#include "importers/opset_upgrade.h"
#include "importers/proto_io.h"
#include "importers/shape_inference_guard.h"
#include "importers/tensor_proto.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

std::string type_description(const onnx::TypeProto& type) {
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType:
      return fmt::format("tensor({})", dtype_name(static_cast<DType>(type.tensor_type().elem_type())));
    case onnx::TypeProto::kSequenceType:
      return fmt::format("sequence({})", type_description(type.sequence_type().elem_type()));
    case onnx::TypeProto::kMapType: return "map";
    case onnx::TypeProto::kOptionalType:
      return fmt::format("optional({})", type_description(type.optional_type().elem_type()));
    case onnx::TypeProto::kSparseTensorType: return "sparse_tensor";
    default: return "an unknown type";
  }
}

}  // namespace

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& proto) {
  ValueInfo info;
  info.name = proto.name();
  const auto& type = proto.type();
  info.type_description = type_description(type);
  if (type.value_case() != onnx::TypeProto::kTensorType) {
    info.is_tensor = type.value_case() == onnx::TypeProto::VALUE_NOT_SET;
    return info;
  }
  info.dtype = static_cast<DType>(type.tensor_type().elem_type());
  if (type.tensor_type().has_shape()) {
    Shape shape;
    for (const auto& d : type.tensor_type().shape().dim()) {
      shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
      info.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    info.shape = shape;
  }
  return info;
}

Attribute attribute_from_proto(const onnx::AttributeProto& a, const std::string& model_dir,
                               const std::string& context) {
  Attribute out;
  using AP = onnx::AttributeProto;
  switch (a.type()) {
    case AP::FLOAT:
      out.kind = Attribute::Kind::Float;
      out.f = a.f();
      break;
    case AP::INT:
      out.kind = Attribute::Kind::Int;
      out.i = a.i();
      break;
    case AP::STRING:
      out.kind = Attribute::Kind::String;
      out.s = a.s();
      break;
    case AP::TENSOR:
      out.kind = Attribute::Kind::Tensor;
      out.t = tensor_from_proto(a.t(), model_dir, context + ", attribute '" + a.name() + "'");
      break;
    case AP::FLOATS:
      out.kind = Attribute::Kind::Floats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case AP::INTS:
      out.kind = Attribute::Kind::Ints;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case AP::STRINGS:
      out.kind = Attribute::Kind::Strings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case AP::GRAPH:
    case AP::GRAPHS: out.kind = Attribute::Kind::Graph; break;
    default: out.kind = Attribute::Kind::Other; break;
  }
  return out;
}

int imported_opset(const onnx::ModelProto& model, const std::string& domain) {
  for (const auto& imp : model.opset_import()) {
    const std::string d = imp.domain() == "ai.onnx" ? "" : imp.domain();
    if (d == domain) return static_cast<int>(imp.version());
  }
  return -1;
}

Node node_from_proto(const onnx::NodeProto& n, int index, const std::string& model_dir, const std::string& path) {
  Node node;
  node.op_type = n.op_type();
  node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
  node.name = n.name().empty() ? fmt::format("{}_{}", n.op_type(), index) : n.name();
  node.inputs.assign(n.input().begin(), n.input().end());
  node.outputs.assign(n.output().begin(), n.output().end());
  const std::string context = fmt::format("{}: {}", path, node.label());
  for (const auto& a : n.attribute()) node.attributes[a.name()] = attribute_from_proto(a, model_dir, context);
  return node;
}

namespace {

// Checks every stored tensor up front (external-data locations that escape the model's
// folder or are missing, dims that overflow, sizes that disagree with the bytes present), so
// that it gets our message naming the tensor before ONNX's checker and shape inference,
// which would otherwise meet the same tensors first.
// Their total is checked against the memory limit too: many tensors that fit one at a time can
// still add up past it.
void validate_stored_tensors(const onnx::GraphProto& g, const std::string& model_dir, const std::string& path) {
  uint64_t total = 0;
  for (const auto& init : g.initializer())
    total = std::min<uint64_t>(total + check_tensor_proto(init, model_dir, fmt::format("{}: initializer '{}'", path,
                                                                                      init.name())),
                               uint64_t{1} << 63);
  check_memory_limit(total, fmt::format("{}: the {} initializers together", path, g.initializer_size()));
  for (const auto& n : g.node())
    for (const auto& a : n.attribute())
      if (a.has_t())
        check_tensor_proto(a.t(), model_dir,
                           fmt::format("{}: node '{}', attribute '{}'", path, n.name(), a.name()));
}

}  // namespace

void value_info_to_proto(const ValueInfo& v, onnx::ValueInfoProto& proto) {
  proto.set_name(v.name);
  auto* tt = proto.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.shape) return;
  auto* shape = tt->mutable_shape();
  for (size_t d = 0; d < v.shape->size(); ++d) {
    auto* dim = shape->add_dim();
    if ((*v.shape)[d] >= 0)
      dim->set_dim_value((*v.shape)[d]);
    else if (d < v.dim_params.size() && !v.dim_params[d].empty())
      dim->set_dim_param(v.dim_params[d]);
  }
}

void attribute_to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto& proto) {
  using AP = onnx::AttributeProto;
  proto.set_name(name);
  switch (a.kind) {
    case Attribute::Kind::Float:
      proto.set_type(AP::FLOAT);
      proto.set_f(a.f);
      break;
    case Attribute::Kind::Int:
      proto.set_type(AP::INT);
      proto.set_i(a.i);
      break;
    case Attribute::Kind::String:
      proto.set_type(AP::STRING);
      proto.set_s(a.s);
      break;
    case Attribute::Kind::Tensor:
      proto.set_type(AP::TENSOR);
      tensor_to_proto(a.t, *proto.mutable_t());
      break;
    case Attribute::Kind::Floats:
      proto.set_type(AP::FLOATS);
      for (float f : a.floats) proto.add_floats(f);
      break;
    case Attribute::Kind::Ints:
      proto.set_type(AP::INTS);
      for (int64_t i : a.ints) proto.add_ints(i);
      break;
    case Attribute::Kind::Strings:
      proto.set_type(AP::STRINGS);
      for (const auto& s : a.strings) proto.add_strings(s);
      break;
    default: OT_FAIL("attribute '{}' of a kind that cannot be written back (a subgraph?)", name);
  }
}

void node_to_proto(const Node& n, onnx::NodeProto& node) {
  node.set_name(n.name);
  node.set_op_type(n.op_type);
  node.set_domain(n.domain);
  for (const auto& i : n.inputs) node.add_input(i);
  for (const auto& o : n.outputs) node.add_output(o);
  for (const auto& [name, a] : n.attributes) attribute_to_proto(name, a, *node.add_attribute());
}

void graph_to_proto(const Graph& graph, onnx::GraphProto& g, ExternalData* data) {
  g.set_name(graph.name.empty() ? "graph" : graph.name);
  for (const auto& [name, tensor] : graph.initializers) {
    auto* t = g.add_initializer();
    if (data != nullptr)
      data->place(tensor, *t);
    else
      tensor_to_proto(tensor, *t);
    t->set_name(name);
  }
  for (const auto& v : graph.inputs) value_info_to_proto(v, *g.add_input());
  for (const auto& v : graph.outputs) value_info_to_proto(v, *g.add_output());
  for (const auto& [name, v] : graph.value_info) value_info_to_proto(v, *g.add_value_info());
  for (const Node& n : graph.nodes) node_to_proto(n, *g.add_node());
}

void model_to_proto(const Graph& graph, const std::map<std::string, int>& opsets, onnx::ModelProto& model,
                    ExternalData* data) {
  model.set_ir_version(8);
  model.set_producer_name("onnx-train");
  for (const auto& [domain, version] : opsets) {
    auto* imp = model.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  graph_to_proto(graph, *model.mutable_graph(), data);
}

void save_onnx_model(const Graph& graph, const std::string& path, ExternalDataMode external_data) {
  uint64_t bytes = 0;
  for (const auto& [name, tensor] : graph.initializers) bytes += tensor.nbytes();
  const bool source_external = graph.source && graph.source->had_external_data();
  std::optional<ExternalData> data;
  if (use_external_data(external_data, source_external, bytes, path, "model")) data.emplace(path);
  onnx::ModelProto model;
  model_to_proto(graph, graph.opsets, model, data ? &*data : nullptr);
  write_proto_file(model, path, "model", data ? &*data : nullptr);
}

Tensor read_tensor_proto_file(const std::string& path, std::string* name) {
  onnx::TensorProto proto;
  parse_proto_file(path, proto, "serialized TensorProto");
  if (name != nullptr) *name = proto.name();
  const std::string dir = fs::path(path).parent_path().string();
  return tensor_from_proto(proto, dir, fmt::format("{}: tensor '{}'", path, proto.name()));
}

namespace {

// The model's default-domain opset, checked against what the runtime accepts (a model that
// imports none may have no default-domain node, and counts as kMinOpset).
int checked_default_opset(const onnx::ModelProto& model, const std::string& path) {
  int opset = imported_opset(model, "");
  if (opset < 0) {
    // Allowed only when no node needs it (a graph of ai.onnx.preview.training ops, say).
    for (const auto& n : model.graph().node())
      OT_CHECK(!n.domain().empty() && n.domain() != "ai.onnx",
               "{}: node '{}' ({}) is in the default ONNX domain, but the model imports no opset of that domain", path,
               n.name(), n.op_type());
    opset = kMinOpset;
  }
  if (opset > kMaxLoweredOpset)
    OT_FAIL_AS(ErrorCategory::Unsupported,
               "{}: the model uses opset {} of the default domain; onnx-train supports opsets {} to {}. Re-export "
               "with opset_version={} (torch.onnx.export) or convert it with onnx.version_converter.",
               path, opset, kMinOpset, kMaxLoweredOpset, kMaxLoweredOpset);
  return opset;
}

void run_onnx_checker(const onnx::ModelProto& model, const std::string& model_dir, const std::string& path) {
  try {
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(model.ir_version()));
    std::unordered_map<std::string, int> opsets;
    for (const auto& imp : model.opset_import()) opsets[imp.domain()] = static_cast<int>(imp.version());
    ctx.set_opset_imports(opsets);
    ctx.set_model_dir(model_dir.empty() ? "." : model_dir);
    onnx::checker::LexicalScopeContext lex;
    onnx::checker::check_graph(model.graph(), ctx, lex);
  } catch (const std::exception& e) {
    OT_FAIL("{}: the ONNX checker rejects this model: {}", path, e.what());
  }
}

// Whether every Shape node of `model` reads a value whose type is known (a graph input, an
// initializer or an inferred value_info).
bool shape_nodes_read_typed_values(const onnx::ModelProto& model) {
  std::set<std::string> typed;
  for (const auto& v : model.graph().input())
    if (v.type().has_tensor_type()) typed.insert(v.name());
  for (const auto& v : model.graph().value_info())
    if (v.type().has_tensor_type()) typed.insert(v.name());
  for (const auto& t : model.graph().initializer()) typed.insert(t.name());
  for (const auto& n : model.graph().node())
    if (n.op_type() == "Shape" && n.domain().empty() && n.input_size() > 0 && !typed.count(n.input(0))) return false;
  return true;
}

// `model` without the data of its larger initializers (their type and dims stay): enough for
// shape inference without data propagation, at a fraction of a copy of the weights.
onnx::ModelProto without_weight_data(onnx::ModelProto& model) {
  constexpr int kKeptBytes = 1 << 16;
  google::protobuf::RepeatedPtrField<onnx::TensorProto> initializers;
  initializers.Swap(model.mutable_graph()->mutable_initializer());
  onnx::ModelProto light = model;
  initializers.Swap(model.mutable_graph()->mutable_initializer());
  for (const auto& init : model.graph().initializer()) {
    auto* t = light.mutable_graph()->add_initializer();
    if (init.ByteSizeLong() <= kKeptBytes) {
      *t = init;
      continue;
    }
    t->set_name(init.name());
    t->set_data_type(init.data_type());
    *t->mutable_dims() = init.dims();
  }
  return light;
}

}  // namespace

void infer_shapes(onnx::ModelProto& model) {
  const auto& nodes = model.graph().node();
  const bool has_shape = std::any_of(nodes.begin(), nodes.end(), [](const auto& n) { return n.op_type() == "Shape"; });
  if (has_shape) {  // a first pass without data propagation, to see what the Shape nodes read
    onnx::ModelProto plain = without_weight_data(model);
    onnx::ShapeInferenceOptions without_data(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(plain, guarded_schema_registry(), without_data);
    if (!shape_nodes_read_typed_values(plain)) {
      *model.mutable_graph()->mutable_value_info() = plain.graph().value_info();
      *model.mutable_graph()->mutable_output() = plain.graph().output();
      return;
    }
  }
  onnx::ShapeInferenceOptions with_data(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true);
  onnx::shape_inference::InferShapes(model, guarded_schema_registry(), with_data);
}

namespace {

void run_shape_inference(onnx::ModelProto& model, const std::string& path) {
  try {
    infer_shapes(model);
  } catch (const InferenceRefused& e) {
    fail_on_refused_inference(e, model.graph(), path);
  } catch (const std::exception& e) {
    OT_FAIL("{}: ONNX shape inference found an inconsistency: {}", path, e.what());
  }
}

// The checked, shape-inferred ModelProto as the IR: opsets, initializers (external data read
// from `model_dir`), inputs, outputs, typed values and nodes in topological order.
Graph graph_from_proto(const onnx::ModelProto& model, const std::string& model_dir, const std::string& path) {
  const auto& g = model.graph();
  Graph graph;
  graph.name = g.name();
  for (const auto& imp : model.opset_import())
    graph.opsets[imp.domain() == "ai.onnx" ? "" : imp.domain()] = static_cast<int>(imp.version());

  for (const auto& init : g.initializer())
    graph.initializers[init.name()] =
        tensor_from_proto(init, model_dir, fmt::format("{}: initializer '{}'", path, init.name()));
  OT_CHECK(g.sparse_initializer_size() == 0, "{}: sparse initializers are not supported; store them dense", path);

  for (const auto& in : g.input()) {
    ValueInfo info = value_info_from_proto(in);
    if (graph.initializers.count(in.name()))
      graph.overridable_initializers.push_back(std::move(info));
    else
      graph.inputs.push_back(std::move(info));
  }
  for (const auto& out : g.output()) graph.outputs.push_back(value_info_from_proto(out));
  for (const auto& vi : g.value_info()) graph.value_info[vi.name()] = value_info_from_proto(vi);

  int index = 0;
  for (const auto& n : g.node()) {
    Node node = node_from_proto(n, index++, model_dir, path);
    node.opset = imported_opset(model, node.domain);
    if (node.opset > 0) node.since_version = schema_version(node.op_type, node.opset, node.domain);
    graph.nodes.push_back(std::move(node));
  }
  try {
    sort_topologically(graph);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()), e.category());
  }
  return graph;
}

// ONNX 1.12's shape inference (and its version converter, which runs it) trusts what it reads
// here: it divides by these attributes (a zero stride or block size is a SIGFPE inside ONNX) and
// reads dimension 1 of a ConvTranspose weight of any rank (a null dereference for a scalar). They
// are checked first, in the main graph and in subgraphs (If/Loop/Scan bodies); a weight's rank
// as declared (graph input, initializer, value_info).
void check_before_shape_inference(const onnx::GraphProto& graph, const std::string& path) {
  std::map<std::string, int> declared_rank;
  for (const auto* values : {&graph.input(), &graph.value_info()})
    for (const auto& v : *values)
      if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
        declared_rank[v.name()] = v.type().tensor_type().shape().dim_size();
  for (const auto& t : graph.initializer()) declared_rank[t.name()] = t.dims_size();
  for (const auto& n : graph.node()) {
    if ((n.domain().empty() || n.domain() == "ai.onnx") && (n.op_type() == "ConvTranspose" || n.op_type() == "Conv") &&
        n.input_size() > 1) {
      const auto rank = declared_rank.find(n.input(1));
      if (rank != declared_rank.end() && rank->second < 3)
        OT_FAIL_AS(ErrorCategory::Model,
                   "{}: node '{}' ({}): the weight '{}' has rank {}; a convolution weight is [M, C/group, k1, ...]",
                   path, n.name(), n.op_type(), n.input(1), rank->second);
    }
  }
  static const std::set<std::string> kStrided = {"Conv",    "ConvTranspose", "ConvInteger", "QLinearConv",
                                                 "MaxPool", "AveragePool",   "LpPool",      "MaxUnpool"};
  static const std::set<std::string> kBlocked = {"DepthToSpace", "SpaceToDepth"};
  for (const auto& n : graph.node()) {
    const bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
    // A convolution's or pooling's data [N, C, d1, ...] has rank 2 + s (s spatial axes); ONNX
    // sizes its per-axis vectors (strides, pads...) by s and then indexes them by the weight's or
    // kernel_shape's axes: a data rank that disagrees reads past them (a null dereference).
    if (onnx_domain && kStrided.count(n.op_type()) && n.input_size() > 0 && n.op_type() != "QLinearConv") {
      const auto data_rank = declared_rank.find(n.input(0));
      if (data_rank != declared_rank.end()) {
        const int rank = data_rank->second;
        if (rank < 3)
          OT_FAIL_AS(ErrorCategory::Model,
                     "{}: node '{}' ({}): the input '{}' has rank {}; it must be [N, C, d1, ...] (rank 3 or more)", path,
                     n.name(), n.op_type(), n.input(0), rank);
        const bool weighted = n.op_type() == "Conv" || n.op_type() == "ConvTranspose" || n.op_type() == "ConvInteger";
        const auto weight_rank = weighted && n.input_size() > 1 ? declared_rank.find(n.input(1)) : declared_rank.end();
        if (weight_rank != declared_rank.end() && weight_rank->second != rank)
          OT_FAIL_AS(ErrorCategory::Model, "{}: node '{}' ({}): the input '{}' has rank {} but the weight '{}' rank {}",
                     path, n.name(), n.op_type(), n.input(0), rank, n.input(1), weight_rank->second);
        for (const auto& a : n.attribute()) {
          const bool per_axis = a.name() == "kernel_shape" || a.name() == "strides" || a.name() == "dilations" ||
                                a.name() == "output_padding";
          const int wanted = per_axis ? rank - 2 : a.name() == "pads" ? 2 * (rank - 2) : -1;
          if (wanted >= 0 && a.ints_size() != wanted)
            OT_FAIL_AS(ErrorCategory::Model,
                       "{}: node '{}' ({}): attribute {} has {} values; an input of rank {} needs {}", path, n.name(),
                       n.op_type(), a.name(), a.ints_size(), rank, wanted);
        }
      }
    }
    // An `axis` past the data's rank: ONNX 1.12's inference of LayerNormalization copies the
    // dimensions before it from the input's shape unchecked (a read past it, a SEGV); every op's
    // axis is checked, against [-r, r) of its first input's declared rank r (Flatten's may be r,
    // OneHot's, which names an axis of its output, -r - 1 to r).
    if (onnx_domain && n.input_size() > 0) {
      const auto data_rank = declared_rank.find(n.input(0));
      for (const auto& a : n.attribute()) {
        if (a.name() != "axis" || a.type() != onnx::AttributeProto::INT || data_rank == declared_rank.end()) continue;
        const int64_t r = data_rank->second;
        const bool flatten = n.op_type() == "Flatten", one_hot = n.op_type() == "OneHot";
        const int64_t low = one_hot ? -r - 1 : -r, high = flatten || one_hot ? r : r - 1;
        if (a.i() < low || a.i() > high)
          OT_FAIL_AS(ErrorCategory::Model,
                     "{}: node '{}' ({}): axis {} is out of range for an input of rank {} (the input '{}'; it must be "
                     "in [{}, {}])",
                     path, n.name(), n.op_type(), a.i(), r, n.input(0), low, high);
      }
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_before_shape_inference(a.g(), path);
      for (const auto& g : a.graphs()) check_before_shape_inference(g, path);
      if (!onnx_domain) continue;
      if (kStrided.count(n.op_type()) &&
          (a.name() == "strides" || a.name() == "dilations" || a.name() == "kernel_shape"))
        for (int64_t v : a.ints())
          if (v <= 0)
            OT_FAIL_AS(ErrorCategory::Model, "{}: node '{}' ({}): attribute {} must hold positive values, not [{}]",
                       path, n.name(), n.op_type(), a.name(), fmt::join(a.ints(), ", "));
      if (kBlocked.count(n.op_type()) && a.name() == "blocksize" && a.i() <= 0)
        OT_FAIL_AS(ErrorCategory::Model, "{}: node '{}' ({}): attribute blocksize must be positive, not {}", path,
                   n.name(), n.op_type(), a.i());
    }
  }
}

// Some exporters declare a dynamic dimension as -1 rather than leaving it unnamed; it means the
// same as an unknown one, and becomes one here, in every graph and subgraph, so that the guard on
// ONNX's shape inference (importers/shape_inference_guard.h) only sees negative dimensions that
// an op's inference computed.
void forget_negative_declared_dims(onnx::GraphProto& graph) {
  for (auto* values : {graph.mutable_input(), graph.mutable_output(), graph.mutable_value_info()})
    for (auto& v : *values)
      if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
        for (auto& d : *v.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim())
          if (d.has_dim_value() && d.dim_value() < 0) d.clear_dim_value();
  for (auto& n : *graph.mutable_node())
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) forget_negative_declared_dims(*a.mutable_g());
      for (auto& g : *a.mutable_graphs()) forget_negative_declared_dims(g);
    }
}

// Every graph output must be a graph input, an initializer or a node's output: ONNX 1.12's
// version converter (an old opset's upgrade) dereferences the value of each output unchecked.
void check_outputs_defined(const onnx::GraphProto& graph, const std::string& path) {
  std::set<std::string> defined;
  for (const auto& v : graph.input()) defined.insert(v.name());
  for (const auto& t : graph.initializer()) defined.insert(t.name());
  for (const auto& n : graph.node()) defined.insert(n.output().begin(), n.output().end());
  for (const auto& o : graph.output())
    if (defined.count(o.name()) == 0)
      OT_FAIL_AS(ErrorCategory::Model,
                 "{}: the graph output '{}' is not computed by any node, nor a graph input or initializer", path,
                 o.name());
}

}  // namespace

Graph load_onnx_model(const std::string& path, const LoadOptions& options) {
  ExternalDataMappings mappings;  // one mapping per external data file for this model
  onnx::ModelProto model;
  parse_proto_file(path, model, "ONNX model");
  const std::string model_dir = fs::path(path).parent_path().string();
  // A checkpoint is an ONNX file too (importers/checkpoint_file.h), and passing one where the
  // model goes (`onnx-train eval run/step-000000100.ckpt data/`) is an easy slip; it used to
  // fail deep in the opset converter ("the model uses opset 7 ... assertInVersionRange").
  OT_CHECK(model.graph().name() != kCheckpointGraphName,
           "{}: this is an onnx-train checkpoint, not a model; write the trained model from it with `onnx-train "
           "export {} -o model.onnx`, or continue its training with `onnx-train MODEL.onnx DATA_DIR --resume={}`",
           path, path, path);
  OT_CHECK(model.has_graph(), "{}: the model has no graph", path);
  // The file as given, for the export (before inlining, lowering or upgrading change it).
  auto source = std::make_shared<ModelSource>(model, path);
  // Calls of model-local functions become the functions' bodies, so that everything below (the
  // checker, shape inference, the IR) sees ONNX ops only.
  inline_local_functions(model, path);
  int opset = checked_default_opset(model, path);
  validate_stored_tensors(model.graph(), model_dir, path);
  check_before_shape_inference(model.graph(), path);
  check_outputs_defined(model.graph(), path);
  forget_negative_declared_dims(*model.mutable_graph());
  // Op versions newer than ONNX 1.12 knows become opset-17 nodes before its checker sees them.
  std::set<std::string> settings;
  if (opset > kMaxOpset) {
    try {
      settings = lower_to_opset17(model, path);
    } catch (const InferenceRefused& e) {
      fail_on_refused_inference(e, model.graph(), path);
    }
    opset = kMaxOpset;
  }
  if (options.run_checker) run_onnx_checker(model, model_dir, path);
  // The runtime implements opset 7 onwards; older models go through ONNX's converter so that no
  // node runs with semantics it was not written for. A caller may need a newer opset still.
  if (opset < std::max(kMinOpset, options.min_opset)) {
    const bool for_caller = options.min_opset > kMinOpset;
    const int target = for_caller ? options.min_opset : kMinOpset;
    upgrade_opset(model, opset, target, path, for_caller ? options.min_opset_reason : "onnx-train's runtime");
  }
  if (options.infer_shapes) run_shape_inference(model, path);
  Graph graph = graph_from_proto(model, model_dir, path);
  source->finish(model, graph, model_dir);
  graph.source = std::move(source);
  graph.settings = std::move(settings);
  return graph;
}

}  // namespace onnx_train
