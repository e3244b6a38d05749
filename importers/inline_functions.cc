// Inlining a model's local functions (importers/inline_functions.h).
//
// Two passes. The first walks the calls without changing anything: it checks every call against
// its function's signature, finds recursion and over-deep nesting (the chain of calls is at most kMaxFunctionNesting
// long, so the second pass's recursion is bounded too), checks every called function's opset imports and counts the
// nodes the graph will have (saturating, so an exponential expansion is refused before it
// allocates). The second replaces the calls, depth first, renaming as it goes.
#include "importers/inline_functions.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

using FunctionKey = std::pair<std::string, std::string>;  // (domain, name), "ai.onnx" written ""
using NodeList = google::protobuf::RepeatedPtrField<onnx::NodeProto>;

std::string normal_domain(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

std::string label(const FunctionKey& key) { return key.first.empty() ? key.second : key.first + "." + key.second; }

std::string node_label(const onnx::NodeProto& node) {
  return node.name().empty() ? fmt::format("an unnamed {} node", node.op_type())
                             : fmt::format("node '{}'", node.name());
}

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool has_subgraph(const onnx::AttributeProto& a) { return a.has_g() || a.graphs_size() > 0; }

class Inliner {
 public:
  Inliner(onnx::ModelProto& model, const std::string& path) : model_(model), path_(path) {}

  int run() {
    if (model_.functions_size() == 0) return 0;
    for (const auto& fn : model_.functions()) {
      const FunctionKey key{normal_domain(fn.domain()), fn.name()};
      OT_CHECK(functions_.emplace(key, &fn).second, "{}: the model defines the local function {} twice", path_,
               label(key));
      function_domains_.insert(key.first);
    }
    for (const auto& imp : model_.opset_import()) imports_[normal_domain(imp.domain())] = imp.version();

    // Pass 1: validate and count, before anything changes.
    const long long nodes = graph_size(model_.graph());
    if (nodes > kMaxInlinedNodes) {
      // Name the call of the graph that expands the most (the usual culprit: functions that call
      // each other several times over, an exponential expansion).
      const onnx::NodeProto* biggest = nullptr;
      long long biggest_size = 0;
      for (const auto& node : model_.graph().node()) {
        if (callee(node) == nullptr) continue;
        const long long size = function_size({normal_domain(node.domain()), node.op_type()});
        if (size > biggest_size) biggest = &node, biggest_size = size;
      }
      const std::string culprit = biggest == nullptr
                                      ? ""
                                      : fmt::format(" ({} calls {}, which becomes {}{} nodes)", node_label(*biggest),
                                                    label({normal_domain(biggest->domain()), biggest->op_type()}),
                                                    biggest_size > kMaxInlinedNodes ? "more than " : "",
                                                    std::min(biggest_size, kMaxInlinedNodes));
      OT_FAIL(
          "{}: inlining the model's local functions would give the graph more than {} nodes{}; a model this "
          "large, or functions that call each other this many times over, is refused",
          path_, kMaxInlinedNodes, culprit);
    }

    // Pass 2: inline.
    collect_names(model_.graph());
    inline_graph(*model_.mutable_graph());

    model_.clear_functions();
    std::set<std::string> used;
    collect_domains(model_.graph(), used);
    auto* imports = model_.mutable_opset_import();
    for (int i = imports->size() - 1; i >= 0; --i) {
      const std::string d = normal_domain(imports->Get(i).domain());
      if (function_domains_.count(d) && !used.count(d)) imports->DeleteSubrange(i, 1);
    }
    for (const auto& [domain, version] : added_imports_) {
      if (!used.count(domain)) continue;
      auto* imp = model_.add_opset_import();
      imp->set_domain(domain);
      imp->set_version(version);
    }
    return calls_;
  }

 private:
  const onnx::FunctionProto* callee(const onnx::NodeProto& node) const {
    auto it = functions_.find({normal_domain(node.domain()), node.op_type()});
    return it == functions_.end() ? nullptr : it->second;
  }

  static long long saturated(long long n) { return std::min(n, kMaxInlinedNodes + 1); }

  // Nodes of `graph` (its subgraphs included) once every call in it is inlined, at most
  // kMaxInlinedNodes + 1.
  long long graph_size(const onnx::GraphProto& graph) {
    long long total = 0;
    for (const auto& node : graph.node()) {
      if (callee(node) != nullptr) {
        const FunctionKey key{normal_domain(node.domain()), node.op_type()};
        check_call(node, key);
        total += function_size(key);
      } else {
        total += 1;
        for (const auto& a : node.attribute()) {
          if (a.has_g()) total += graph_size(a.g());
          for (const auto& g : a.graphs()) total = saturated(total + graph_size(g));
        }
      }
      total = saturated(total);
    }
    return total;
  }

  // A call may leave out trailing inputs (optional ones) and outputs (unused), not add any.
  void check_call(const onnx::NodeProto& call, const FunctionKey& key) const {
    const onnx::FunctionProto& fn = *functions_.at(key);
    OT_CHECK(call.input_size() <= fn.input_size(),
             "{}: {} calls the local function {} with {} inputs, but it takes {} ({})", path_, node_label(call),
             label(key), call.input_size(), fn.input_size(), joined(fn.input()));
    OT_CHECK(call.output_size() <= fn.output_size(),
             "{}: {} calls the local function {} with {} outputs, but it has {} ({})", path_, node_label(call),
             label(key), call.output_size(), fn.output_size(), joined(fn.output()));
  }

  // Nodes one call of `key` becomes; checks the function on the way (once).
  long long function_size(const FunctionKey& key) {
    if (auto it = sizes_.find(key); it != sizes_.end()) return it->second;
    if (auto at = std::find(chain_.begin(), chain_.end(), key); at != chain_.end()) {
      std::string cycle;
      for (auto it = at; it != chain_.end(); ++it) cycle += label(*it) + " -> ";
      OT_FAIL("{}: the local function {} calls itself ({}{}); a function cannot be inlined into itself", path_,
              label(key), cycle, label(key));
    }
    if (static_cast<int>(chain_.size()) >= kMaxFunctionNesting) {
      OT_FAIL(
          "{}: local functions nest more than {} deep (from {} to {}); onnx-train does not inline chains of "
          "calls this long",
          path_, kMaxFunctionNesting, label(chain_.front()), label(key));
    }
    const onnx::FunctionProto& fn = *functions_.at(key);
    check_imports(fn, key);
    chain_.push_back(key);
    long long total = 0;
    for (const auto& node : fn.node()) {
      for (const auto& a : node.attribute())
        OT_CHECK(!has_subgraph(a),
                 "{}: the local function {} holds {} ({}) with a subgraph attribute '{}'; subgraphs inside local "
                 "functions are not supported",
                 path_, label(key), node_label(node), node.op_type(), a.name());
      if (callee(node) == nullptr) {
        total = saturated(total + 1);
        continue;
      }
      const FunctionKey called{normal_domain(node.domain()), node.op_type()};
      check_call(node, called);
      total = saturated(total + function_size(called));
    }
    chain_.pop_back();
    sizes_[key] = total;
    return total;
  }

  // A function's opset imports must agree with the model's: one graph holds one version of a
  // domain. A domain the model does not import is added (when an inlined node uses it).
  void check_imports(const onnx::FunctionProto& fn, const FunctionKey& key) {
    for (const auto& imp : fn.opset_import()) {
      const std::string domain = normal_domain(imp.domain());
      if (function_domains_.count(domain)) continue;  // calls of other local functions
      auto it = imports_.find(domain);
      if (it == imports_.end()) {
        imports_[domain] = imp.version();
        added_imports_[domain] = imp.version();
        continue;
      }
      OT_CHECK(it->second == imp.version(),
               "{}: the local function {} imports opset {} of the {} domain, but the model imports opset {}; "
               "onnx-train does not mix two versions of a domain in one graph",
               path_, label(key), imp.version(), domain.empty() ? "default" : "'" + domain + "'", it->second);
    }
  }

  void collect_names(const onnx::GraphProto& graph) {
    for (const auto& v : graph.input()) values_.insert(v.name());
    for (const auto& v : graph.output()) values_.insert(v.name());
    for (const auto& v : graph.value_info()) values_.insert(v.name());
    for (const auto& t : graph.initializer()) values_.insert(t.name());
    for (const auto& t : graph.sparse_initializer()) values_.insert(t.values().name());
    for (const auto& node : graph.node()) {
      nodes_.insert(node.name());
      values_.insert(node.input().begin(), node.input().end());
      values_.insert(node.output().begin(), node.output().end());
      for (const auto& a : node.attribute()) {
        if (a.has_g()) collect_names(a.g());
        for (const auto& g : a.graphs()) collect_names(g);
      }
    }
  }

  void collect_domains(const onnx::GraphProto& graph, std::set<std::string>& used) const {
    for (const auto& node : graph.node()) {
      used.insert(normal_domain(node.domain()));
      for (const auto& a : node.attribute()) {
        if (a.has_g()) collect_domains(a.g(), used);
        for (const auto& g : a.graphs()) collect_domains(g, used);
      }
    }
  }

  static std::string fresh(const std::string& base, std::unordered_set<std::string>& taken) {
    std::string name = base;
    for (long long k = 1; !taken.insert(name).second; ++k) name = fmt::format("{}_{}", base, k);
    return name;
  }

  void inline_graph(onnx::GraphProto& graph) {
    NodeList out;
    for (auto& node : *graph.mutable_node()) {
      if (const onnx::FunctionProto* fn = callee(node)) {
        expand(node, *fn, 1, out);
        continue;
      }
      for (auto& a : *node.mutable_attribute()) {
        if (a.has_g()) inline_graph(*a.mutable_g());
        for (auto& g : *a.mutable_graphs()) inline_graph(g);
      }
      *out.Add() = std::move(node);
    }
    graph.mutable_node()->Swap(&out);
  }

  // Appends the body of `fn`, bound to `call`, to `out`; nested calls are expanded in place.
  void expand(const onnx::NodeProto& call, const onnx::FunctionProto& fn, int depth, NodeList& out) {
    OT_CHECK(depth <= kMaxFunctionNesting, "{}: local functions nest more than {} deep", path_, kMaxFunctionNesting);
    ++calls_;
    const std::string prefix = call.name().empty() ? fresh(call.op_type(), nodes_) : call.name();

    // The function's names as the call sees them: inputs and outputs bound to the call's,
    // everything else renamed on first sight.
    std::unordered_map<std::string, std::string> names;
    for (int i = 0; i < fn.input_size(); ++i) names[fn.input(i)] = i < call.input_size() ? call.input(i) : "";
    for (int i = 0; i < fn.output_size(); ++i)
      names[fn.output(i)] = i < call.output_size() && !call.output(i).empty()
                                ? call.output(i)
                                : fresh(prefix + "/" + fn.output(i), values_);
    auto bound = [&](const std::string& name) -> std::string {
      if (name.empty()) return name;
      if (auto it = names.find(name); it != names.end()) return it->second;
      return names[name] = fresh(prefix + "/" + name, values_);
    };

    int index = 0;
    for (const auto& body : fn.node()) {
      onnx::NodeProto node;
      node.set_op_type(body.op_type());
      node.set_domain(body.domain());
      if (!body.doc_string().empty()) node.set_doc_string(body.doc_string());
      node.set_name(fresh(
          prefix + "/" + (body.name().empty() ? fmt::format("{}_{}", body.op_type(), index) : body.name()), nodes_));
      for (const auto& in : body.input()) node.add_input(bound(in));
      for (const auto& o : body.output()) node.add_output(bound(o));
      for (const auto& a : body.attribute()) {
        if (a.ref_attr_name().empty()) {
          *node.add_attribute() = a;
          continue;
        }
        // The call's value of the function attribute this one refers to; none: the attribute is
        // left out (the op's own default applies).
        for (const auto& given : call.attribute()) {
          if (given.name() != a.ref_attr_name()) continue;
          auto* bound_attr = node.add_attribute();
          *bound_attr = given;
          bound_attr->set_name(a.name());
          break;
        }
      }
      if (const onnx::FunctionProto* nested = callee(node))
        expand(node, *nested, depth + 1, out);
      else
        *out.Add() = std::move(node);
      ++index;
    }
  }

  onnx::ModelProto& model_;
  const std::string& path_;
  std::map<FunctionKey, const onnx::FunctionProto*> functions_;
  std::set<std::string> function_domains_;
  std::map<std::string, int64_t> imports_;        // the model's, and those functions bring
  std::map<std::string, int64_t> added_imports_;  // brought by a function, not in the model
  std::map<FunctionKey, long long> sizes_;
  std::vector<FunctionKey> chain_;  // the calls being counted, outermost first
  std::unordered_set<std::string> values_, nodes_;
  int calls_ = 0;
};

}  // namespace

int inline_local_functions(onnx::ModelProto& model, const std::string& path) { return Inliner(model, path).run(); }

}  // namespace onnx_train
