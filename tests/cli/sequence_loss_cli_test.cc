// Class losses on sequence models: a model whose output is [batch, tokens, classes] (a language
// model's logits over its vocabulary, a tagger's over its tags) trains with the default
// `--loss cross-entropy` against [batch, tokens] labels, the classes read from the last axis
// (--class-axis auto); `--class-axis 1` reads them from axis 1 ([N, C, L]); a label of the wrong
// shape for the chosen axis names the axis and the flag. The real binary on a per-token linear
// classifier (tests/cli/cli_harness.h).
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

constexpr int kTokens = 6;
constexpr int kFeatures = 4;
constexpr int kClasses = 3;

// x [N, 6, 4] -> MatMul(w [4, 3]) + b -> logits [N, 6, 3]: every token classified on its own.
std::string make_tagger(const std::string& path) {
  std::mt19937 rng(5);
  testing::ModelBuilder m(13);
  m.input("x", onnx::TensorProto::FLOAT, {-1, kTokens, kFeatures});
  m.initializer("w", random_tensor({kFeatures, kClasses}, rng, 0.05f));
  m.initializer("b", random_tensor({kClasses}, rng, 0.05f));
  m.node("MatMul", {"x", "w"}, {"xw"});
  m.node("Add", {"xw", "b"}, {"logits"});
  m.output("logits", onnx::TensorProto::FLOAT, {-1, kTokens, kClasses});
  fs::create_directories(fs::path(path).parent_path());
  m.save(path);
  return path;
}

// n sequences of 6 tokens, each token a separable sample of one of 3 classes: x [n, 6, 4],
// label [n, 6].
void write_tokens(const std::string& dir, int n, unsigned seed) {
  const Samples tokens = separable(n * kTokens, seed, kClasses);
  write_file(dir + "/x.npy", npy("<f4", {n, kTokens, kFeatures}, bytes_of(tokens.x)));
  write_file(dir + "/label.npy", npy("<i8", {n, kTokens}, bytes_of(tokens.y)));
}

class SequenceLossCli : public CliTest {};

TEST_F(SequenceLossCli, TokenLogitsTrainAgainstTokenLabels) {
  const std::string model = make_tagger(path("tagger.onnx"));
  write_tokens(path("data/train"), 64, 1);
  write_tokens(path("data/val"), 16, 2);
  const CliRun r = ok({model, path("data"), "--batch-size", "8", "--epochs", "4", "--lr", "0.05", "-o",
                       path("tagger.trained.onnx")});
  const size_t last_epoch = r.out.find("epoch 4/4: ");
  ASSERT_NE(last_epoch, std::string::npos) << r.out;
  EXPECT_GT(number_after(r.out.substr(r.out.find("val loss", last_epoch)), "accuracy"), 90) << r.out;
  // eval scores the trained tagger per token (16 sequences of 6 tokens are 96 validation
  // positions), with the 3-class report.
  const CliRun e = ok({"eval", path("tagger.trained.onnx"), path("data")});
  EXPECT_HAS(e.out, "of 96)");
  EXPECT_HAS(e.out, "macro avg");
}

TEST_F(SequenceLossCli, ClassAxisOneReadsClassesFromAxisOne) {
  // [N, 6, 3] with classes on axis 1 has 6 classes and labels [N, 3]: the token labels do not fit,
  // and the error says where the shape comes from and which flag changes it.
  const std::string model = make_tagger(path("tagger.onnx"));
  write_tokens(path("data"), 16, 1);
  fails({model, path("data"), "--class-axis", "1"},
        {"field 'label' takes samples of shape [3]", "class axis 1", "--class-axis last"});
  // The same labels fit the default (the last axis) and the explicit one.
  ok({model, path("data"), "--class-axis", "last", "--max-steps", "2", "-o", path("a.onnx")});
  fails({model, path("data"), "--class-axis", "2"}, {"--class-axis 2", "the kinds are 1, last, -1, auto"});
}

}  // namespace
}  // namespace onnx_train::cli_test
