// Image class folders through the real binary (as tests/cli/cli_e2e_test.cc runs it): a model
// with a dynamic height and width trained with --image-size (and eval reading the size back
// from the exported model), the size checked against a fixed-size model; --augment applied to
// the training images only, a resumed augmented run ending byte for byte as an uninterrupted
// one; --workers changing nothing in the result.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/cli/cli_harness.h"
#include "tests/support/data_files.h"

namespace onnx_train::cli_test {
namespace {

using testing::write_png_file;

class ImagesCli : public CliTest {};

// DIR/<colour>/img<i>.png: `count` pictures of 8 x 8 in which the colour's channel is bright
// and the others dark, with a bright stripe down the left third so that mirroring and cropping
// change what the model sees.
void write_striped_colour(const std::string& dir, const std::string& colour, int count, unsigned seed) {
  const int channel = colour == "red" ? 0 : colour == "green" ? 1 : 2;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> bright(180, 255), dark(0, 60);
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> rgb(8 * 8 * 3);
    for (size_t p = 0; p < rgb.size(); ++p) {
      const bool stripe = (p / 3) % 8 < 3;
      rgb[p] = static_cast<uint8_t>(static_cast<int>(p % 3) == channel || stripe ? bright(rng) : dark(rng));
    }
    write_png_file(fmt::format("{}/{}/img{}.png", dir, colour, i), 8, 8, 3, rgb);
  }
}

void write_colours(const std::string& dir, int per_class, unsigned seed) {
  for (const std::string colour : {"red", "green", "blue"}) write_striped_colour(dir, colour, per_class, seed + colour[0]);
}

// x [N, 3, H, W] with H and W symbolic -> GlobalAveragePool -> Flatten -> Gemm(3) -> logits:
// a model for any image size, as exporters write fully convolutional ones.
std::string make_any_size_model(const std::string& path) {
  std::mt19937 rng(5);
  testing::ModelBuilder m(13);
  auto& shape =
      *m.input("x", onnx::TensorProto::FLOAT, {-1, 3, -1, -1}).mutable_type()->mutable_tensor_type()->mutable_shape();
  shape.mutable_dim(2)->set_dim_param("height");
  shape.mutable_dim(3)->set_dim_param("width");
  m.initializer("fc.weight", random_tensor({3, 3}, rng, 0.05f));
  m.initializer("fc.bias", random_tensor({3}, rng, 0.05f));
  m.node("GlobalAveragePool", {"x"}, {"pooled"});
  m.node("Flatten", {"pooled"}, {"flat"});
  m.node("Gemm", {"flat", "fc.weight", "fc.bias"}, {"logits"});
  m.attr("transB", 1);
  m.output("logits", onnx::TensorProto::FLOAT, {-1, 3});
  fs::create_directories(fs::path(path).parent_path());
  m.save(path);
  return path;
}

// The validation loss of a training run's summary line ("done: ...; val loss 0.1234, ...").
double final_val_loss(const CliRun& run) {
  const size_t done = run.out.find("done: ");
  return done == std::string::npos ? NAN : number_after(run.out.substr(done), "; val loss ");
}

// ---- --image-size

TEST_F(ImagesCli, ADynamicSizeModelTrainsAtTheImageSizeGivenAndEvalKeepsIt) {
  const std::string model = make_any_size_model(path("any.onnx"));
  write_colours(path("data/train"), 6, 1);
  write_colours(path("data/val"), 2, 2);
  fails({model, path("data")}, {"'x'", "[3, -1, -1]", "open height or width", "--image-size H,W"});

  const CliRun train = ok({model, path("data"), "--image-size", "6,5", "--epochs", "3", "--batch-size", "6", "--lr",
                           "0.1", "--optimizer", "sgd", "-o", path("out/any.onnx")});
  EXPECT_HAS(train.out, "wrote " + path("out/any.onnx"));
  EXPECT_EQ(metadata_of(path("out/any.onnx")).at("data.input_shape"), "3,6,5");
  const double val_loss = final_val_loss(train);
  ASSERT_FALSE(std::isnan(val_loss)) << train.show();

  // eval resizes to the stored 6 x 5, scoring the model as the run's last validation did.
  const CliRun eval = ok({"eval", path("out/any.onnx"), path("data")});
  EXPECT_NEAR(number_after(eval.out, "(validation split): loss "), val_loss, 1e-4) << eval.show();
  // --image-size given to eval wins over the stored one.
  const CliRun other = ok({"eval", path("out/any.onnx"), path("data"), "--image-size", "4"});
  EXPECT_HAS(other.out, "(validation split): loss ");
}

TEST_F(ImagesCli, TheImageSizeMustFitAFixedSizeModelAndImages) {
  const std::string model = make_linear(path("fixed.onnx"), {3, 6, 6}, 3);
  write_colours(path("data/train"), 2, 1);
  fails({model, path("data"), "--image-size", "5"},
        {"--image-size resizes the images to 5x5", "'x'", "[3, 6, 6]", "fixed at 6x6", "give 6,6"});
  ok({model, path("data"), "--image-size", "6,6", "-o", path("fixed.trained.onnx")});
  fails({model, path("data"), "--image-size", "6,6,6"}, {"--image-size takes H,W", "'6,6,6'"});
  fails({model, path("data"), "--image-size", "0"}, {"--image-size", "at least 1"});

  write_npy_data(path("arrays"), separable(12, 1));
  const std::string mlp = make_linear(path("flat.onnx"), {4}, 3);
  fails({mlp, path("arrays"), "--image-size", "6"}, {"--image-size applies to image class folders", "x.npy"});
  fails({mlp, path("arrays"), "--augment", "hflip"}, {"--augment applies to image class folders"});
}

// ---- --augment

TEST_F(ImagesCli, AnAugmentedRunResumedEndsAsAnUninterruptedOne) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  write_colours(path("data/train"), 4, 1);  // 12 images: 3 batches of 4 an epoch
  write_colours(path("data/val"), 2, 2);
  const std::vector<std::string> common = {model,          path("data"), "--epochs",  "2",
                                           "--batch-size", "4",          "--seed",    "7",
                                           "--lr",         "0.05",       "--augment", "hflip,crop=0.3,rotate=20"};
  const CliRun straight = ok(plus(common, {"-o", path("straight.onnx")}));
  ok(plus(common, {"--max-steps", "4", "--checkpoint-dir", path("ck"), "--checkpoint-every", "1", "--workers", "1",
                   "-o", path("first.onnx")}));
  // The number of reading threads may change on resume: the batches do not depend on it.
  const CliRun resumed =
      ok(plus(common, {"--checkpoint-dir", path("ck"), "--resume", "--workers", "3", "-o", path("resumed.onnx")}));
  EXPECT_HAS(resumed.out, "resumed from ");
  EXPECT_HAS(resumed.out, "--workers 1 -> 3");
  EXPECT_TRUE(read_file(path("resumed.onnx")) == read_file(path("straight.onnx")))
      << "stopped at step 4 of an augmented run and resumed: the model differs from an uninterrupted run's";

  // The augmentation does change the training...
  std::vector<std::string> plain(common.begin(), common.end() - 2);
  ok(plus(plain, {"-o", path("plain.onnx")}));
  EXPECT_FALSE(read_file(path("plain.onnx")) == read_file(path("straight.onnx")))
      << "--augment changed nothing in the trained model";
  // ...but not the validation images: eval of the exported model, which never augments,
  // scores it as the run's last validation did.
  const CliRun eval = ok({"eval", path("straight.onnx"), path("data")});
  EXPECT_NEAR(number_after(eval.out, "(validation split): loss "), final_val_loss(straight), 1e-4)
      << straight.show() << eval.show();

  fails(plus(plain, {"--augment", "hflip,vflip"}), {"--augment: unknown augmentation 'vflip'"});
}

// ---- --workers

TEST_F(ImagesCli, AnyNumberOfWorkersTrainsTheSameModel) {
  const std::string model = make_linear(path("colours.onnx"), {3, 6, 6}, 3);
  write_colours(path("data/train"), 5, 1);  // 15 images: batches of 4, 4, 4, 3
  const std::vector<std::string> common = {model, path("data"), "--epochs",   "2",    "--batch-size",
                                           "4",   "--augment",  "crop,hflip", "--lr", "0.05"};
  ok(plus(common, {"--workers", "1", "-o", path("one.onnx")}));
  ok(plus(common, {"--workers", "3", "-o", path("three.onnx")}));
  ok(plus(common, {"-o", path("default.onnx")}));
  EXPECT_TRUE(read_file(path("one.onnx")) == read_file(path("three.onnx")))
      << "--workers 3 trained another model than --workers 1";
  EXPECT_TRUE(read_file(path("one.onnx")) == read_file(path("default.onnx")))
      << "the default number of workers trained another model than --workers 1";
  fails(plus(common, {"--workers", "0"}), {"--workers", "at least 1", "'0'"});
}

}  // namespace
}  // namespace onnx_train::cli_test
