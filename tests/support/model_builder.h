// Builds small ONNX models in C++ for tests: no Python, no fixtures on disk.
//
//   ModelBuilder m(13);
//   m.input("x", onnx::TensorProto::FLOAT, {-1, 3});   // -1: symbolic dimension "N"
//   m.initializer("w", Tensor::from<float>({3}, {1, 2, 3}));
//   m.node("Add", {"x", "w"}, {"y"});
//   m.node("LeakyRelu", {"y"}, {"z"});
//   m.attr("alpha", 0.2f);                              // an attribute of the node added last
//   m.output("z", onnx::TensorProto::FLOAT, {-1, 3});
//   m.save(dir + "/model.onnx");
#pragma once

#include <onnx/onnx_pb.h>

#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "importers/tensor_proto.h"
#include "onnx_train/error.h"
#include "onnx_train/tensor.h"

namespace onnx_train::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset, int ir_version = 8) {
    model_.set_ir_version(ir_version);
    model_.set_producer_name("onnx-train tests");
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }

  onnx::ValueInfoProto& input(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
    return fill(*model_.mutable_graph()->add_input(), name, elem_type, &dims);
  }
  onnx::ValueInfoProto& output(const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
    return fill(*model_.mutable_graph()->add_output(), name, elem_type, &dims);
  }
  onnx::TensorProto& initializer(const std::string& name, const Tensor& value) {
    auto* t = model_.mutable_graph()->add_initializer();
    tensor_to_proto(value, *t);
    t->set_name(name);
    return *t;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& domain = "") {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_domain(domain);
    n->set_name(op + "_" + std::to_string(model_.graph().node_size()));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
  }
  // Attribute `name` of the node added last, its type from the value's: INT, FLOAT, INTS (a
  // braced list of integers is always INTS), FLOATS, STRING. Returns the builder, so several
  // chain: m.attr("kernel_shape", {3, 3}).attr("strides", {2, 2}).
  ModelBuilder& attr(const std::string& name, int64_t value) {
    auto& a = new_attr(name, onnx::AttributeProto::INT);
    a.set_i(value);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, int value) { return attr(name, static_cast<int64_t>(value)); }
  ModelBuilder& attr(const std::string& name, float value) {
    auto& a = new_attr(name, onnx::AttributeProto::FLOAT);
    a.set_f(value);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, std::initializer_list<int64_t> values) {
    return attr(name, std::vector<int64_t>(values));
  }
  ModelBuilder& attr(const std::string& name, const std::vector<int64_t>& values) {
    auto& a = new_attr(name, onnx::AttributeProto::INTS);
    for (int64_t v : values) a.add_ints(v);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const std::vector<float>& values) {
    auto& a = new_attr(name, onnx::AttributeProto::FLOATS);
    for (float v : values) a.add_floats(v);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const std::string& value) {
    auto& a = new_attr(name, onnx::AttributeProto::STRING);
    a.set_s(value);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const char* value) { return attr(name, std::string(value)); }

  void opset_import(const std::string& domain, int version) {
    auto* imp = model_.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  onnx::ModelProto& proto() { return model_; }

  void save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    model_.SerializeToOstream(&out);
  }

 private:
  static onnx::ValueInfoProto& fill(onnx::ValueInfoProto& v, const std::string& name, int elem_type,
                                    const std::vector<int64_t>* dims) {
    v.set_name(name);
    auto* tt = v.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    if (dims != nullptr) {
      auto* shape = tt->mutable_shape();
      for (int64_t d : *dims) {
        auto* dim = shape->add_dim();
        if (d >= 0)
          dim->set_dim_value(d);
        else
          dim->set_dim_param("N");
      }
    }
    return v;
  }

  onnx::AttributeProto& new_attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* graph = model_.mutable_graph();
    OT_CHECK(graph->node_size() > 0, "attribute {} given before any node", name);
    auto* a = graph->mutable_node(graph->node_size() - 1)->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return *a;
  }

  onnx::ModelProto model_;
};

// The message of the Error that Session::from_file(model_path) throws; "" if it loads.
std::string load_error(const std::string& model_path);

// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace onnx_train::testing
