// Hostile model files and tensor files: dims whose product wraps around 64 bits, sizes that
// disagree with the bytes present, external-data offsets that are not numbers, shapes whose
// element counts overflow at run time, and writes that fail. Each must end in one Error that
// names the file and the tensor, before anything large is allocated.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "importers/onnx_model.h"
#include "importers/proto_io.h"
#include "importers/tensor_proto.h"
#include "onnx_train/dataset.h"
#include "onnx_train/session.h"
#include "runtime/core/checked_math.h"
#include "runtime/kernels/util.h"
#include "tests/support/hostile_files.h"
#include "tests/support/model_builder.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;
using testing::TempDir;
using testing::error_of;

// 2^62 + 1: times 4 it is 2^64 + 4, which wraps to 4 in 64-bit arithmetic.
constexpr int64_t kWraps = (int64_t{1} << 62) + 1;

// y = Gather(w, i): the model of the report, whose Gather read far outside a 16-byte buffer.
std::string gather_model(const std::string& dir, const onnx::TensorProto& w) {
  ModelBuilder m(13);
  m.input("i", onnx::TensorProto::INT64, {2});
  *m.proto().mutable_graph()->add_initializer() = w;
  m.node("Gather", {"w", "i"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {});
  const std::string path = dir + "/model.onnx";
  m.save(path);
  return path;
}

onnx::TensorProto float_proto(const std::string& name, const std::vector<int64_t>& dims, size_t raw_bytes) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(raw_bytes, '\0'));
  return t;
}

TEST(HostileModel, InitializerWhoseDimsWrapIsRefusedNamingTheTensor) {
  TempDir dir;
  const std::string path = gather_model(dir.path(), float_proto("w", {kWraps, 4}, 16));
  const std::string err = error_of([&] { Session::from_file(path); });
  EXPECT_HAS(err, path + ": initializer 'w'");
  EXPECT_HAS(err, "[4611686018427387905, 4]");
  EXPECT_HAS(err, "overflow");
  // The checks run before ONNX's checker and shape inference see the tensor.
  LoadOptions no_checks;
  no_checks.run_checker = false;
  no_checks.infer_shapes = false;
  EXPECT_HAS(error_of([&] { load_onnx_model(path, no_checks); }), "initializer 'w'");
}

TEST(HostileModel, TensorAttributeWhoseDimsWrapIsRefused) {
  TempDir dir;
  ModelBuilder m(13);
  auto& node = m.node("Constant", {}, {"y"});
  auto* attr = node.add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  *attr->mutable_t() = float_proto("", {4, kWraps}, 16);
  m.output("y", onnx::TensorProto::FLOAT, {});
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  const std::string err = error_of([&] { Session::from_file(path); });
  EXPECT_HAS(err, path + ": node 'Constant_1', attribute 'value'");
  EXPECT_HAS(err, "overflow");
}

TEST(HostileModel, DeclaredSizeIsCheckedAgainstTheBytesBeforeAllocating) {
  TempDir dir;
  // [1e9, 1e9] float32 is 4e18 bytes: an allocation of that size fails with a bare
  // std::bad_alloc, so the message below shows that the check came first.
  std::string path = gather_model(dir.path(), float_proto("w", {1000000000, 1000000000}, 64));
  std::string err = error_of([&] { Session::from_file(path); });
  EXPECT_HAS(err, path + ": initializer 'w': raw_data has 64 bytes, float32[1000000000, 1000000000] needs "
                         "4000000000000000000");
  // The same with the values in float_data.
  onnx::TensorProto typed = float_proto("w", {1000000000, 1000000000}, 0);
  typed.clear_raw_data();
  typed.add_float_data(1);
  typed.add_float_data(2);
  path = gather_model(dir.path(), typed);
  EXPECT_HAS(error_of([&] { Session::from_file(path); }), "initializer 'w': holds 2 values");
}

TEST(HostileModel, TensorFileWhoseDimsWrapIsRefusedNamingTheFile) {
  // ONNX test data: a 16-byte tensor that claims 2^62 + 1 samples of 4 values.
  TempDir dir;
  const std::string set = dir.path() + "/train/test_data_set_0";
  fs::create_directories(set);
  const onnx::TensorProto t = float_proto("", {kWraps, 4}, 16);
  std::ofstream(set + "/input_0.pb", std::ios::binary) << t.SerializeAsString();
  const std::string err = error_of([&] { open_data(dir.path(), {{"x", DType::Float32, {4}}}, {}); });
  EXPECT_HAS(err, set + "/input_0.pb");
  EXPECT_HAS(err, "overflow");
  EXPECT_HAS(error_of([&] { read_tensor_proto_file(set + "/input_0.pb"); }), set + "/input_0.pb");
}

// ---- External data offset / length

std::string external_model(const std::string& dir, const std::string& offset, const std::string& length) {
  ModelBuilder m(13);
  auto& t = m.initializer("w", Tensor(DType::Float32, {2, 3}));
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"location", "weights.bin"},
                                   {"offset", offset},
                                   {"length", length}}) {
    auto* entry = t.add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  m.node("Identity", {"w"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {2, 3});
  std::ofstream(dir + "/weights.bin", std::ios::binary) << std::string(64, '\0');
  const std::string path = dir + "/model.onnx";
  m.save(path);
  return path;
}

TEST(HostileModel, ExternalDataOffsetAndLengthAreParsedStrictly) {
  TempDir dir;
  const std::string d = dir.path();
  auto load_error = [&](const std::string& offset, const std::string& length) {
    return error_of([&] { Session::from_file(external_model(d, offset, length)); });
  };
  const std::string where = d + "/model.onnx: initializer 'w': external data ";
  EXPECT_HAS(load_error("abc", "24"), where + "offset 'abc' is not a byte count");
  EXPECT_HAS(load_error("12abc", "24"), where + "offset '12abc' is not a byte count");
  EXPECT_HAS(load_error("-8", "24"), where + "offset '-8' is not a byte count");
  EXPECT_HAS(load_error(" 8", "24"), where + "offset ' 8' is not a byte count");
  EXPECT_HAS(load_error("", "24"), where + "offset '' is not a byte count");
  EXPECT_HAS(load_error("0", "24x"), where + "length '24x' is not a byte count");
  EXPECT_HAS(load_error("99999999999999999999", "24"), where + "offset '99999999999999999999' is too large");
  // offset + length past 2^63: must not wrap into "inside the file".
  EXPECT_HAS(load_error("9223372036854775800", "24"), "has 64 bytes; float32[2, 3] needs 24 bytes from offset "
                                                      "9223372036854775800");
  // Bytes of the value are quoted escaped.
  EXPECT_HAS(load_error(std::string("1\x1b[2J", 5), "24"), where + "offset '1\\x1b[2J' is not a byte count");
  // A well-formed pair still loads.
  Session ok = Session::from_file(external_model(d, "8", "24"));
  EXPECT_EQ(ok.run({}).at(0).describe(), "float32[2, 3]");
}

// ---- Sizes computed at run time

TEST(HostileModel, KernelOutputShapeThatOverflowsIsAnError) {
  // Expand to a shape fed at run time, [2^62 + 1, 4]: the count wraps to 4, and the old code
  // allocated 16 bytes for it.
  TempDir dir;
  ModelBuilder m(13);
  m.input("shape", onnx::TensorProto::INT64, {2});
  m.initializer("x", Tensor::from<float>({1}, {1.0f}));
  m.node("Expand", {"x", "shape"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, -1});
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  Session s = Session::from_file(path);
  const std::string err = error_of([&] { s.run({{"shape", Tensor::from<int64_t>({2}, {kWraps, 4})}}); });
  EXPECT_HAS(err, "Expand");
  EXPECT_HAS(err, "[4611686018427387905, 4] is corrupt: the product of its dimensions overflows");
}

TEST(HostileModel, DeclaredShapeThatOverflowsIsReportedWhenThePlanIsBuilt) {
  TempDir dir;
  ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {kWraps, 4});
  m.node("Relu", {"x"}, {"y"});
  m.output("y", onnx::TensorProto::FLOAT, {-1, 4});
  const std::string path = dir.path() + "/model.onnx";
  m.save(path);
  const std::string err = error_of([&] { Session::from_file(path); });
  EXPECT_HAS(err, "graph input 'x' has shape [4611686018427387905, 4], whose element count overflows");
}

TEST(HostileModel, EveryProductOfDimsIsChecked) {
  EXPECT_EQ(checked_numel({2, 3, 4}, "t"), 24);
  EXPECT_EQ(checked_numel({}, "t"), 1);
  EXPECT_EQ(checked_numel({0, 5}, "t"), 0);
  EXPECT_HAS(error_of([] { checked_numel({kWraps, 4}, "model.onnx: initializer 'w'"); }),
             "model.onnx: initializer 'w': shape [4611686018427387905, 4] is corrupt: the product of its dimensions "
             "overflows");
  EXPECT_HAS(error_of([] { checked_numel({0, int64_t{1} << 40, int64_t{1} << 40}, "t"); }), "overflow");
  EXPECT_HAS(error_of([] { checked_numel({3, -1}, "t"); }), "t: shape [3, -1] has a negative dimension");
  EXPECT_HAS(error_of([] { checked_nbytes({int64_t{1} << 61, 8}, DType::Float32, "t"); }), "overflow");
  EXPECT_HAS(error_of([] { checked_nbytes({int64_t{1} << 61}, DType::Float64, "t"); }), "more than 2^63 bytes");
  EXPECT_HAS(error_of([] { checked_mul(int64_t{1} << 32, int64_t{1} << 32, "t"); }), "overflows");
  EXPECT_HAS(error_of([] { Tensor(DType::Float32, {kWraps, 4}); }), "overflow");
  EXPECT_HAS(error_of([] { shape_numel({kWraps, 4}); }), "overflow");
  EXPECT_HAS(error_of([] { broadcast_shapes({int64_t{1} << 32, 1}, {1, int64_t{1} << 32}); }), "overflow");
  EXPECT_HAS(error_of([] { strides_of({4, int64_t{1} << 32, int64_t{1} << 32}); }), "overflow");
  // A size that fits in 64 bits but not in memory names the tensor's shape instead of a bare
  // bad_alloc, refused by the memory limit (onnx_train/limits.h) before asking for it.
  EXPECT_HAS(error_of([] { Tensor(DType::Float32, {int64_t{1} << 60}); }),
             "a tensor float32[1152921504606846976]: 4 EiB (4611686018427387904 bytes) is more than the memory limit");
}

// ---- Failed writes

TEST(HostileModel, FailedWritesNameTheTargetAndTheRealCause) {
  TempDir dir;
  onnx::ModelProto model;
  model.set_ir_version(8);
  // The target is a folder: rename() fails with EISDIR, which the old message lost ("Success").
  const std::string folder = dir.path() + "/out.onnx";
  fs::create_directories(folder);
  std::string err = error_of([&] { write_proto_file(model, folder, "model"); });
  EXPECT_HAS(err, folder + ": cannot move the written model into place: Is a directory");
  EXPECT_LACKS(err, "Success");
  EXPECT_LACKS(err, ".partial");
  EXPECT_FALSE(fs::exists(folder + ".partial"));
  // The folder does not exist: the message names the target, not its temporary file.
  const std::string missing = dir.path() + "/no/such/folder/model.onnx";
  err = error_of([&] { write_proto_file(model, missing, "model"); });
  EXPECT_HAS(err, missing + ": cannot open for writing: No such file or directory");
  EXPECT_LACKS(err, ".partial");
}

}  // namespace
}  // namespace onnx_train
