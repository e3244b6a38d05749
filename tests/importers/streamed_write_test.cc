// Models written with their weights streamed from the tensors (InlineTensors) and with values
// made only as they are written (DeferredTensor): the file must read back as the same model a
// protobuf message holding every byte would have written.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "importers/proto_io.h"
#include "importers/tensor_proto.h"
#include "onnx_train/error.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Tensor ramp(Shape shape, float start) {
  Tensor t(DType::Float32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + 0.25f * static_cast<float>(i);
  return t;
}

// A model with a graph of one Add over two initializers (one large, one below the held size), a
// doc string and metadata: fields before and after `graph` and `initializer` in field order.
onnx::ModelProto model_shell() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("streamed-write-test");
  m.add_opset_import()->set_version(17);
  auto* meta = m.add_metadata_props();
  meta->set_key("k");
  meta->set_value("v");
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("g");
  g.set_doc_string("after initializer in field order");
  auto* n = g.add_node();
  n->set_op_type("Add");
  n->add_input("big");
  n->add_input("small");
  n->add_output("y");
  g.add_initializer()->set_name("big");
  g.add_initializer()->set_name("small");
  g.add_output()->set_name("y");
  return m;
}

onnx::ModelProto read_model(const std::string& path) {
  onnx::ModelProto m;
  parse_proto_file(path, m, "ONNX model");
  return m;
}

// The model as protobuf itself writes it, every byte in the message.
std::string reference_bytes(const Tensor& big, const Tensor& small) {
  onnx::ModelProto m = model_shell();
  tensor_to_proto(big, *m.mutable_graph()->mutable_initializer(0));
  tensor_to_proto(small, *m.mutable_graph()->mutable_initializer(1));
  return m.SerializeAsString();
}

TEST(StreamedWrite, HeldInitializersReadBackAsTheSameModel) {
  TempDir dir;
  const Tensor big = ramp({64, 48}, 1), small = ramp({3}, -1);
  onnx::ModelProto m = model_shell();
  InlineTensors held;
  held.place(big, *m.mutable_graph()->mutable_initializer(0));
  held.place(small, *m.mutable_graph()->mutable_initializer(1));
  EXPECT_EQ(held.held().size(), 1u);  // the small one went into the proto
  EXPECT_TRUE(m.graph().initializer(0).raw_data().empty());
  const std::string path = dir.path() + "/m.onnx";
  write_model_file(m, path, "model", nullptr, &held);
  // The message is whole again, and the file parses to what protobuf would have written.
  EXPECT_EQ(m.graph().initializer_size(), 2);
  EXPECT_EQ(m.graph().initializer(0).name(), "big");
  EXPECT_EQ(read_model(path).SerializeAsString(), reference_bytes(big, small));
  EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST(StreamedWrite, DeferredValuesAreMadeOneAtATimeWhileWriting) {
  TempDir dir;
  // Each made tensor's storage counts itself alive until its last handle goes.
  auto alive = std::make_shared<std::atomic<int>>(0);
  auto most_alive = std::make_shared<int>(0);
  int made = 0;
  auto deferred = [&](float start) {
    return DeferredTensor{DType::Float32, {32, 40}, [=, &made] {
      ++made;
      *most_alive = std::max(*most_alive, ++*alive);
      const Tensor values = ramp({32, 40}, start);
      std::shared_ptr<void> owner(new char, [alive, values](void* p) {
        --*alive;
        delete static_cast<char*>(p);
      });
      return Tensor::wrap(DType::Float32, {32, 40}, owner, const_cast<void*>(values.raw_data()));
    }};
  };
  for (const bool external : {false, true}) {
    SCOPED_TRACE(external ? "external data" : "inline");
    made = 0;
    onnx::ModelProto m = model_shell();
    auto& inits = *m.mutable_graph()->mutable_initializer();
    inits.Add()->set_name("third");
    ExternalData data(dir.path() + "/m.onnx");
    InlineTensors held;
    auto place = [&](const HeldTensor& t, onnx::TensorProto& proto) {
      external ? data.place(t, proto) : held.place(t, proto);
    };
    place(deferred(1), inits[0]);
    place(ramp({3}, -1), inits[1]);
    place(deferred(100), inits[2]);
    EXPECT_EQ(made, 0) << "placing made a deferred value";
    write_model_file(m, dir.path() + "/m.onnx", "model", external ? &data : nullptr, external ? nullptr : &held);
    EXPECT_EQ(made, 2);
    EXPECT_EQ(*most_alive, 1) << "two deferred values existed at once";
    EXPECT_EQ(*alive, 0);
    // Read back with the data file resolved: the values are the ones made.
    const onnx::ModelProto back = read_model(dir.path() + "/m.onnx");
    ASSERT_EQ(back.graph().initializer_size(), 3);
    const Tensor first = tensor_from_proto(back.graph().initializer(0), dir.path(), "first");
    const Tensor third = tensor_from_proto(back.graph().initializer(2), dir.path(), "third");
    EXPECT_EQ(first.shape(), (Shape{32, 40}));
    EXPECT_EQ(first.to_doubles(), ramp({32, 40}, 1).to_doubles());
    EXPECT_EQ(third.to_doubles(), ramp({32, 40}, 100).to_doubles());
  }
}

TEST(StreamedWrite, AValueThatCannotBeMadeLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.path() + "/m.onnx";
  onnx::ModelProto m = model_shell();
  InlineTensors held;
  held.place(DeferredTensor{DType::Float32, {16, 16}, []() -> Tensor { throw std::runtime_error("out of memory"); }},
             *m.mutable_graph()->mutable_initializer(0));
  held.place(ramp({3}, 0), *m.mutable_graph()->mutable_initializer(1));
  EXPECT_THROW(write_model_file(m, path, "model", nullptr, &held), std::runtime_error);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(m.graph().initializer_size(), 2);  // put back together on the way out too
}

TEST(StreamedWrite, AValueMadeOfAnotherShapeIsRefused) {
  TempDir dir;
  onnx::ModelProto m = model_shell();
  InlineTensors held;
  held.place(DeferredTensor{DType::Float32, {16, 16}, [] { return ramp({16, 17}, 0); }},
             *m.mutable_graph()->mutable_initializer(0));
  held.place(ramp({3}, 0), *m.mutable_graph()->mutable_initializer(1));
  EXPECT_THROW(write_model_file(m, dir.path() + "/m.onnx", "model", nullptr, &held), Error);
  EXPECT_FALSE(fs::exists(dir.path() + "/m.onnx"));
}

TEST(StreamedWrite, AHeldTensorThatIsNoInitializerIsRefused) {
  TempDir dir;
  onnx::ModelProto m = model_shell();
  InlineTensors held;
  onnx::TensorProto elsewhere;
  elsewhere.set_name("not_in_the_graph");
  held.place(ramp({16, 16}, 0), elsewhere);
  tensor_to_proto(ramp({16, 16}, 0), *m.mutable_graph()->mutable_initializer(0));
  tensor_to_proto(ramp({3}, 0), *m.mutable_graph()->mutable_initializer(1));
  EXPECT_THROW(write_model_file(m, dir.path() + "/m.onnx", "model", nullptr, &held), Error);
  EXPECT_FALSE(fs::exists(dir.path() + "/m.onnx"));
}

}  // namespace
}  // namespace onnx_train
