// Tests of the normalization kernels (runtime/kernels/dnnl/normalization.cc): the oneDNN
// float32 paths against the plain-loop references (runtime/kernels/reference/norm_ref.h)
// for BatchNormalization (inference and training, every version), InstanceNormalization,
// LayerNormalization (several axes) and LRN; and Dropout (reference/dropout.cc) statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/kernels/kernel.h"
#include "runtime/kernels/reference/dropout_mask.h"
#include "runtime/kernels/reference/norm_ref.h"
#include "tests/support/kernel_harness.h"

namespace onnx_train {
namespace {

using testing::make_kernel;
using testing::make_node;
using testing::random_tensor;
using testing::run_kernel;
using testing::run_node;
using testing::to_double;

void expect_close(const std::vector<double>& e, const Tensor& actual, double tol, const std::string& what) {
  const auto a = actual.to_doubles();
  ASSERT_EQ(e.size(), a.size()) << what;
  for (size_t i = 0; i < e.size(); ++i)
    ASSERT_NEAR(e[i], a[i], tol * (1 + std::abs(e[i]))) << what << " at flat index " << i;
}

void expect_close(const Tensor& expected, const Tensor& actual, double tol, const std::string& what) {
  ASSERT_EQ(expected.shape(), actual.shape()) << what;
  expect_close(expected.to_doubles(), actual, tol, what);
}

// [N, C, S] of an (N x C x D1 x ... x Dn) shape ([N] is [N, 1, 1]).
void ncs(const Shape& shape, int64_t& n, int64_t& c, int64_t& s) {
  n = shape[0];
  c = shape.size() > 1 ? shape[1] : 1;
  s = 1;
  for (size_t i = 2; i < shape.size(); ++i) s *= shape[i];
}

const std::vector<Shape> kBatchNormShapes = {{2, 3, 4, 5}, {4, 5}, {3, 2, 2, 3, 2}, {6}, {2, 3, 7}};

TEST(BatchNormTest, InferenceMatchesReferenceInEveryVersion) {
  uint32_t seed = 1;
  for (int version : {7, 9, 14, 15})
    for (const Shape& shape : kBatchNormShapes) {
      int64_t n, c, s;
      ncs(shape, n, c, s);
      const Tensor x = random_tensor<float>(shape, seed++);
      const Tensor scale = random_tensor<float>({c}, seed++), bias = random_tensor<float>({c}, seed++);
      const Tensor mean = random_tensor<float>({c}, seed++), var = random_tensor<float>({c}, seed++, 0.1, 2);
      Node node = make_node("BatchNormalization", version, 5, 1);
      node.attributes["epsilon"] = Attribute::of_float(1e-3f);
      const Tensor y = run_node(node, {x, scale, bias, mean, var})[0];

      std::vector<Tensor> d;
      for (const Tensor* t : {&x, &scale, &bias, &mean, &var}) d.push_back(to_double(*t));
      Tensor ref(DType::Float64, shape);
      batch_norm_ref(d[0].data<double>(), n, c, s, d[1].data<double>(), d[2].data<double>(), d[3].data<double>(),
                     d[4].data<double>(), double{1e-3f}, ref.data<double>());
      const std::string what = fmt::format("BatchNormalization-{} {}", version, shape_str(shape));
      expect_close(ref, y, 1e-5, what);
      expect_close(ref, run_node(node, d)[0], 1e-12, what + " float64");
    }
}

// Training: Y from the batch statistics; running = input * momentum + batch * (1 - momentum).
TEST(BatchNormTest, TrainingMatchesReference) {
  uint32_t seed = 100;
  for (int version : {9, 14, 15})
    for (const Shape& shape : kBatchNormShapes) {
      int64_t n, c, s;
      ncs(shape, n, c, s);
      const Tensor x = random_tensor<float>(shape, seed++, -2, 3);
      const Tensor scale = random_tensor<float>({c}, seed++), bias = random_tensor<float>({c}, seed++);
      const Tensor mean = random_tensor<float>({c}, seed++), var = random_tensor<float>({c}, seed++, 0.1, 2);
      const bool old_style = version < 14;  // training = statistics outputs present
      Node node = make_node("BatchNormalization", version, 5, old_style ? 5 : 3);
      node.attributes["momentum"] = Attribute::of_float(0.8f);
      if (!old_style) node.attributes["training_mode"] = Attribute::of_int(1);

      std::vector<Tensor> d;
      for (const Tensor* t : {&x, &scale, &bias, &mean, &var}) d.push_back(to_double(*t));
      Tensor batch_mean(DType::Float64, {c}), batch_var(DType::Float64, {c}), ref(DType::Float64, shape);
      batch_norm_statistics_ref(d[0].data<double>(), n, c, s, batch_mean.data<double>(), batch_var.data<double>());
      batch_norm_ref(d[0].data<double>(), n, c, s, d[1].data<double>(), d[2].data<double>(), batch_mean.data<double>(),
                     batch_var.data<double>(), double{1e-5f}, ref.data<double>());
      std::vector<double> running_mean(c), running_var(c);
      for (int64_t i = 0; i < c; ++i) {
        const double momentum = 0.8f;  // the attribute is a float
        running_mean[i] = d[3].data<double>()[i] * momentum + batch_mean.data<double>()[i] * (1 - momentum);
        running_var[i] = d[4].data<double>()[i] * momentum + batch_var.data<double>()[i] * (1 - momentum);
      }
      for (bool use_double : {false, true}) {
        const std::vector<Tensor> out = run_node(node, use_double ? d : std::vector<Tensor>{x, scale, bias, mean, var});
        const double tol = use_double ? 1e-12 : 1e-5;
        const std::string what =
            fmt::format("BatchNormalization-{} training {} {}", version, shape_str(shape), use_double ? "f64" : "f32");
        expect_close(ref, out[0], tol, what + " Y");
        expect_close(running_mean, out[1], tol, what + " running mean");
        expect_close(running_var, out[2], tol, what + " running var");
        if (old_style) {
          expect_close(batch_mean, out[3], tol, what + " saved_mean");
          expect_close(batch_var, out[4], tol, what + " saved_var");
        }
      }
    }
}

TEST(BatchNormTest, PerActivationSpatialZeroAndErrors) {
  // BatchNormalization-7 spatial=0: parameters per (c, d), statistics over N.
  const Tensor x = random_tensor<float>({4, 2, 3}, 1);
  const Tensor scale = random_tensor<float>({2, 3}, 2), bias = random_tensor<float>({2, 3}, 3);
  const Tensor mean = random_tensor<float>({2, 3}, 4), var = random_tensor<float>({2, 3}, 5, 0.5, 1);
  Node node = make_node("BatchNormalization", 7, 5, 1);
  node.attributes["spatial"] = Attribute::of_int(0);
  const Tensor y = run_node(node, {x, scale, bias, mean, var})[0];
  Tensor ref(DType::Float32, x.shape());
  batch_norm_ref(x.data<float>(), 4, 6, 1, scale.data<float>(), bias.data<float>(), mean.data<float>(),
                 var.data<float>(), 1e-5, ref.data<float>());
  expect_close(ref, y, 1e-5, "spatial=0");

  // Wrong parameter size; running outputs without training_mode.
  const Tensor c3 = random_tensor<float>({3}, 6);
  EXPECT_THROW(run_node(make_node("BatchNormalization", 15, 5, 1), {x, c3, c3, c3, c3}), Error);
  EXPECT_THROW(make_kernel(make_node("BatchNormalization", 15, 5, 3)), Error);
}

// BatchNormalization-15 lets X, scale/B and mean/var have different floating types; float16
// runs widened to float32, and the running statistics keep mean's type.
TEST(BatchNormTest, MixedTypesAndFloat16) {
  const Tensor x = Tensor::from<Float16>({2, 2}, {Float16(1), Float16(2), Float16(3), Float16(6)});
  const Tensor scale = Tensor::from<double>({2}, {1, 2}), bias = Tensor::from<double>({2}, {0, 1});
  const Tensor mean = Tensor::from<float>({2}, {0, 0}), var = Tensor::from<float>({2}, {1, 1});
  Node node = make_node("BatchNormalization", 15, 5, 3);
  node.attributes["training_mode"] = Attribute::of_int(1);
  node.attributes["epsilon"] = Attribute::of_float(0.f);
  node.attributes["momentum"] = Attribute::of_float(0.5f);
  const std::vector<Tensor> out = run_node(node, {x, scale, bias, mean, var});
  // Channel 0: [1, 3], mean 2, var 1; channel 1: [2, 6], mean 4, var 4.
  EXPECT_EQ(out[0].dtype(), DType::Float16);
  expect_close(std::vector<double>{-1, 1 - 2, 1, 1 + 2}, out[0], 1e-3, "Y");
  EXPECT_EQ(out[1].dtype(), DType::Float32);
  expect_close(std::vector<double>{1, 2}, out[1], 1e-6, "running mean");
  expect_close(std::vector<double>{1, 2.5}, out[2], 1e-6, "running var");
}

TEST(InstanceNormTest, MatchesReference) {
  uint32_t seed = 200;
  for (const Shape& shape : std::vector<Shape>{{2, 3, 4, 5}, {1, 4, 9}, {3, 2, 2, 2, 3}}) {
    const int64_t c = shape[1];
    const Tensor x = random_tensor<float>(shape, seed++, -1, 4);
    const Tensor scale = random_tensor<float>({c}, seed++), bias = random_tensor<float>({c}, seed++);
    Node node = make_node("InstanceNormalization", 6, 3, 1);
    node.attributes["epsilon"] = Attribute::of_float(1e-2f);
    const Tensor y = run_node(node, {x, scale, bias})[0];
    int64_t n, cc, s;
    ncs(shape, n, cc, s);
    const Tensor x64 = to_double(x), scale64 = to_double(scale), bias64 = to_double(bias);
    Tensor ref(DType::Float64, shape);
    instance_norm_ref(x64.data<double>(), n, c, s, scale64.data<double>(), bias64.data<double>(), double{1e-2f},
                      ref.data<double>());
    expect_close(ref, y, 1e-5, "InstanceNormalization " + shape_str(shape));
    expect_close(ref, run_node(node, {x64, scale64, bias64})[0], 1e-12, "float64");
  }
}

TEST(LayerNormTest, MatchesReferenceOnEveryAxis) {
  const Shape shape{2, 3, 4, 5};
  uint32_t seed = 300;
  for (int64_t axis = -4; axis <= 3; ++axis)
    for (bool with_bias : {false, true}) {
      const int64_t a = axis < 0 ? axis + 4 : axis;
      const Shape normalized(shape.begin() + a, shape.end());
      int64_t cols = 1;
      for (int64_t d : normalized) cols *= d;
      const int64_t rows = 2 * 3 * 4 * 5 / cols;
      const Tensor x = random_tensor<float>(shape, seed++, -2, 3);
      const Tensor scale = random_tensor<float>(normalized, seed++);
      const Tensor bias = with_bias ? random_tensor<float>(normalized, seed++) : Tensor();
      Node node = make_node("LayerNormalization", 17, with_bias ? 3 : 2, 3);
      node.attributes["axis"] = Attribute::of_int(axis);
      const Tensor x64 = to_double(x), scale64 = to_double(scale), bias64 = with_bias ? to_double(bias) : Tensor();
      Tensor ref(DType::Float64, shape), mean(DType::Float64, {rows}), inv_std(DType::Float64, {rows});
      layer_norm_ref(x64.data<double>(), rows, cols, scale64.data<double>(),
                     with_bias ? bias64.data<double>() : nullptr, double{1e-5f}, ref.data<double>(),
                     mean.data<double>(), inv_std.data<double>());
      Shape stat_shape(shape.begin(), shape.begin() + a);
      stat_shape.resize(4, 1);
      for (bool use_double : {false, true}) {
        const std::vector<Tensor> out = run_node(
            node, use_double ? std::vector<Tensor>{x64, scale64, bias64} : std::vector<Tensor>{x, scale, bias});
        const std::string what = fmt::format("axis {} bias {} {}", axis, with_bias, use_double ? "f64" : "f32");
        expect_close(ref, out[0], use_double ? 1e-12 : 1e-5, what);
        ASSERT_EQ(out[1].shape(), stat_shape);
        ASSERT_EQ(out[1].dtype(), DType::Float32);  // stash_type 1
        expect_close(mean.to_doubles(), out[1], 1e-6, what + " Mean");
        expect_close(inv_std.to_doubles(), out[2], 1e-5, what + " InvStdDev");
      }
    }
}

TEST(LayerNormTest, BroadcastScaleAndErrors) {
  const Tensor x = random_tensor<float>({3, 4}, 1);
  const Tensor scale = Tensor::from<float>({1}, {2.f});  // broadcast over the 4 columns
  Node node = make_node("LayerNormalization", 17, 2, 1);
  const Tensor y = run_node(node, {x, scale})[0];
  Tensor ref(DType::Float32, {3, 4});
  const std::vector<float> scale4(4, 2.f);
  layer_norm_ref(x.data<float>(), 3, 4, scale4.data(), static_cast<const float*>(nullptr), 1e-5, ref.data<float>(),
                 static_cast<float*>(nullptr), static_cast<float*>(nullptr));
  expect_close(ref, y, 1e-5, "broadcast scale");
  EXPECT_THROW(run_node(node, {x, random_tensor<float>({3}, 2)}), Error);
  node.attributes["axis"] = Attribute::of_int(3);
  EXPECT_THROW(run_node(node, {x, scale}), Error);
}

TEST(LrnTest, EvenAndOddWindows) {
  // One pixel, C = 4, x = [1, 2, 3, 4]; size 2 sums channels [c, c + 1], size 3 [c - 1, c + 1].
  const Tensor x = Tensor::from<float>({1, 4, 1, 1}, {1, 2, 3, 4});
  for (int64_t size : {2, 3}) {
    Node node = make_node("LRN", 13, 1, 1);
    node.attributes["size"] = Attribute::of_int(size);
    node.attributes["alpha"] = Attribute::of_float(0.5f);
    node.attributes["beta"] = Attribute::of_float(0.75f);
    node.attributes["bias"] = Attribute::of_float(2.f);
    const std::vector<double> v{1, 2, 3, 4};
    std::vector<double> expected(4);
    for (int c = 0; c < 4; ++c) {
      double sq = 0;
      for (int i = std::max(0, c - static_cast<int>((size - 1) / 2)); i <= std::min(3, c + static_cast<int>(size / 2));
           ++i)
        sq += v[i] * v[i];
      expected[c] = v[c] / std::pow(2.0 + 0.5 / size * sq, 0.75);
    }
    expect_close(expected, run_node(node, {x})[0], 1e-6, fmt::format("LRN size {}", size));
    expect_close(expected, run_node(node, {to_double(x)})[0], 1e-12, fmt::format("LRN size {} f64", size));
  }
}

TEST(DropoutTest, TrainingStatisticsAndExactScaling) {
  const int64_t count = 200000;
  const Tensor x = random_tensor<float>({count}, 7, 0.5, 1.5);
  const Tensor training = Tensor::from<bool>({}, {true});
  for (float ratio : {0.1f, 0.5f, 0.75f}) {
    const Tensor r = Tensor::from<float>({}, {ratio});
    Node node = make_node("Dropout", 13, 3, 2);
    node.attributes["seed"] = Attribute::of_int(42);
    const std::vector<Tensor> out = run_node(node, {x, r, training});
    ASSERT_EQ(out[1].dtype(), DType::Bool);
    const float* xd = x.data<float>();
    const float* y = out[0].data<float>();
    const bool* mask = out[1].data<bool>();
    const float scale = static_cast<float>(1.0 / (1.0 - ratio));
    int64_t kept = 0;
    for (int64_t i = 0; i < count; ++i) {
      if (mask[i]) {
        ++kept;
        ASSERT_EQ(y[i], xd[i] * scale) << i;
      } else {
        ASSERT_EQ(y[i], 0.f) << i;
      }
    }
    EXPECT_NEAR(static_cast<double>(kept) / count, 1.0 - ratio, 0.01) << "ratio " << ratio;
  }
}

TEST(DropoutTest, DeterministicPerSeedAndFreshPerStep) {
  const Tensor x = random_tensor<float>({1000}, 8);
  const Tensor r = Tensor::from<float>({}, {0.5f});
  const Tensor training = Tensor::from<bool>({}, {true});
  Node node = make_node("Dropout", 12, 3, 2);
  node.attributes["seed"] = Attribute::of_int(3);
  auto k1 = make_kernel(node), k2 = make_kernel(node);
  const auto first = run_kernel(*k1, node, {x, r, training})[1].to_int64s();
  EXPECT_EQ(first, run_kernel(*k2, node, {x, r, training})[1].to_int64s());  // same seed, same mask
  EXPECT_NE(first, run_kernel(*k1, node, {x, r, training})[1].to_int64s());  // next step, new mask
}

// The many-lanes Philox of the Dropout masks against the one-block reference, across a
// 32-bit counter carry and with a count that is not a multiple of the lane width.
TEST(DropoutTest, PhiloxWordsMatchTheReferenceBlocks) {
  const PhiloxStream stream(1234);
  const uint64_t first = (uint64_t{1} << 32) - 7;
  const int64_t blocks = 37;
  std::vector<uint32_t> words(4 * blocks);
  philox_words(stream.key(), first, blocks, words.data());
  for (int64_t j = 0; j < blocks; ++j) {
    const PhiloxCounter expected = stream.block(first + static_cast<uint64_t>(j));
    for (int w = 0; w < 4; ++w) ASSERT_EQ(words[4 * j + w], expected[w]) << "block " << j << " word " << w;
  }
}

// The vectorised float32 pass against the generic loop (run in double): same stream, same
// mask, same scaling.
TEST(DropoutTest, Float32PassMatchesTheGenericLoop) {
  const Tensor x = random_tensor<float>({4099}, 11);  // a chunk-size tail and a lane tail
  const Tensor r = Tensor::from<float>({}, {0.2f});
  const Tensor training = Tensor::from<bool>({}, {true});
  Node node = make_node("Dropout", 13, 3, 2);
  const std::vector<Tensor> f32 = run_node(node, {x, r, training});
  const std::vector<Tensor> f64 = run_node(node, {to_double(x), Tensor::from<double>({}, {0.2}), training});
  EXPECT_EQ(f32[1].to_int64s(), f64[1].to_int64s());
  expect_close(f64[0], to_double(f32[0]), 1e-6, "dropout f32 vs f64");
}

// DropoutGrad: float32 (vectorised) and float64 (generic loop) against dy * Cast(mask) * scale,
// the product it replaces.
TEST(DropoutTest, GradFloat32MatchesFloat64AndTheUnfusedProduct) {
  const Tensor dy = random_tensor<float>({4099}, 12);
  Tensor mask(DType::Bool, {4099});
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data<bool>()[i] = (i * 7919) % 10 < 7;
  const double scale = 1.0 / 0.7;
  const Node node = testing::make_gradient_node("DropoutGrad", 3);
  const Tensor f32 = run_node(node, {dy, mask, Tensor::from<float>({}, {static_cast<float>(scale)})})[0];
  const Tensor f64 = run_node(node, {to_double(dy), mask, Tensor::from<double>({}, {scale})})[0];
  std::vector<double> expected(4099);
  for (int64_t i = 0; i < 4099; ++i)
    expected[i] = mask.data<bool>()[i] ? static_cast<double>(dy.data<float>()[i]) * scale : 0.0;
  expect_close(expected, f64, 1e-12, "DropoutGrad f64");
  expect_close(expected, f32, 1e-6, "DropoutGrad f32");
}

// A checkpoint's state resumes the mask stream where it was; a state of another form still loads.
TEST(DropoutTest, StateResumesTheMaskStream) {
  const Tensor x = random_tensor<float>({5000}, 8);
  const Tensor r = Tensor::from<float>({}, {0.3f});
  const Tensor training = Tensor::from<bool>({}, {true});
  Node node = make_node("Dropout", 13, 3, 2);
  auto k1 = make_kernel(node), k2 = make_kernel(node);
  run_kernel(*k1, node, {x, r, training});
  k2->set_state(k1->state());
  EXPECT_EQ(run_kernel(*k1, node, {x, r, training})[1].to_int64s(),
            run_kernel(*k2, node, {x, r, training})[1].to_int64s());
  EXPECT_NO_THROW(k2->set_state("1 2 3 4"));
}

TEST(DropoutTest, InferenceIsIdentityInEveryVersion) {
  const Tensor x = random_tensor<float>({3, 4}, 9);
  for (int version : {7, 10, 12, 13}) {
    Node node = make_node("Dropout", version, 1, 2);
    const std::vector<Tensor> out = run_node(node, {x});
    EXPECT_EQ(out[0].raw_data(), x.raw_data()) << "a view, no copy";
    EXPECT_EQ(out[1].dtype(), version == 7 ? DType::Float32 : DType::Bool);
    EXPECT_EQ(out[1].to_doubles(), std::vector<double>(12, 1.0));
  }
  // Training with ratio 0 keeps everything; a ratio of 1 is refused.
  Node node = make_node("Dropout", 13, 3, 2);
  const std::vector<Tensor> out = run_node(node, {x, Tensor::from<float>({}, {0.f}), Tensor::from<bool>({}, {true})});
  EXPECT_EQ(out[0].to_doubles(), x.to_doubles());
  EXPECT_EQ(out[1].to_doubles(), std::vector<double>(12, 1.0));
  EXPECT_THROW(run_node(node, {x, Tensor::from<float>({}, {1.f}), Tensor::from<bool>({}, {true})}), Error);
}

}  // namespace
}  // namespace onnx_train
