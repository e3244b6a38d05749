// Data-parallel training under mpirun: `mpirun -np 2 onnx-train ... --batch-size B` trains as one
// process does at --batch-size 2B. Each epoch's shuffled order is one process's, rank r taking its
// positions r, r + 2, ...; the gradients are averaged over both ranks, so global batch k of the
// 2-rank run holds exactly the samples of batch k of the single run and every logged step loss and
// every exported weight agree within float rounding (1e-5 relative): plain, with --accumulate, and
// with BatchNormalization under --sync-batchnorm (running statistics included). Only rank 0 prints
// and writes the log (the single run's events and a final "allreduce" one), checkpoints and the
// export. A sample count that does not divide among the ranks is padded with the order's first
// samples (and validation is over the held-out samples once each). --bucket-mb changes the
// buckets, not the model. A checkpoint of a 2-rank run resumes on
// 1 process at twice the batch and the reverse, ending as the uninterrupted run, also from a
// sample inside a global batch. A rank that stops answering (SIGSTOP) makes rank 0 fail within
// --dist-timeout, naming that rank's pid. --distributed without mpirun is refused.
//
// The real binaries (mpirun from Open MPI's openmpi-bin, tests/cli/cli_harness.h); every test is
// skipped, saying so, when mpirun is not on PATH. Tiny models, a few seconds in all.
#include <fmt/format.h>

#include <functional>
#include <regex>

#include "importers/tensor_proto.h"
#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

// The `mpirun` on PATH ("" when there is none).
std::string find_mpirun() {
  const char* path_env = std::getenv("PATH");
  std::istringstream dirs(path_env ? path_env : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/mpirun";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A --log file's lines, each by what it records: its "event", or "step" (a step's loss) or
// "validation" (a val_loss) for the lines that carry no event name.
std::vector<std::string> log_kinds(const std::string& log) {
  static const std::regex event("\"event\": \"([^\"]+)\"");
  std::vector<std::string> kinds;
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (std::regex_search(line, m, event))
      kinds.push_back(m[1]);
    else if (line.find("\"val_loss\"") != std::string::npos)
      kinds.push_back("validation");
    else if (line.find("\"loss\"") != std::string::npos)
      kinds.push_back("step");
  }
  return kinds;
}

// step -> loss of a --log file's step lines; a resumed run appends to the log, and its lines
// replace those of the same steps.
std::map<int64_t, double> step_losses(const std::string& log) {
  static const std::regex step_line("\"step\": ([0-9]+), \"epoch\": [0-9]+, \"loss\": ([^,}]+)");
  std::map<int64_t, double> losses;
  for (const auto& line : lines_of(log)) {
    std::smatch m;
    if (std::regex_search(line, m, step_line)) losses[std::stoll(m[1])] = std::stod(m[2]);
  }
  return losses;
}

// The log's "allreduce" event's fields, by name ("buckets" -> 1); empty when there is none.
std::map<std::string, double> allreduce_event(const std::string& log) {
  static const std::regex field("\"([a-z_]+)\": ([-0-9.eE+]+)");
  std::map<std::string, double> fields;
  for (const auto& line : lines_of(log)) {
    if (line.find("\"event\": \"allreduce\"") == std::string::npos) continue;
    for (std::sregex_iterator it(line.begin(), line.end(), field), end; it != end; ++it)
      fields[(*it)[1]] = std::stod((*it)[2]);
  }
  return fields;
}

// The float initializers of the ONNX model file `path`, by name, read as the importer reads them.
std::map<std::string, std::vector<float>> weights_of(const std::string& path) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(read_file(path))) << path;
  std::map<std::string, std::vector<float>> out;
  for (const auto& init : proto.graph().initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT) continue;
    const Tensor t = tensor_from_proto(init, fs::path(path).parent_path().string(), path + ": " + init.name());
    const float* p = t.data<float>();
    out[init.name()] = std::vector<float>(p, p + t.numel());
  }
  return out;
}

// |a - b| within `rel` of the larger magnitude, or of the tensor's largest magnitude times 1e-2
// for elements near zero (a weight that crosses zero has no relative precision of its own).
// Returns the largest difference found, so measured that way.
double expect_same_weights(const std::string& a_path, const std::string& b_path, double rel,
                           const std::map<std::string, double>& rel_of = {}) {
  const auto a = weights_of(a_path), b = weights_of(b_path);
  double worst = 0;
  EXPECT_FALSE(a.empty()) << a_path;
  EXPECT_EQ(a.size(), b.size()) << a_path << " vs " << b_path;
  for (const auto& [name, values] : a) {
    if (!b.count(name) || b.at(name).size() != values.size()) {
      ADD_FAILURE() << name << " missing from " << b_path << " or of another size";
      continue;
    }
    const auto& other = b.at(name);
    const double tol = rel_of.count(name) ? rel_of.at(name) : rel;
    double largest = 0;
    for (float v : values) largest = std::max(largest, std::abs(static_cast<double>(v)));
    int bad = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      const double x = values[i], y = other[i];
      const double scale = std::max({std::abs(x), std::abs(y), 1e-2 * largest});
      if (scale > 0) worst = std::max(worst, std::abs(x - y) / scale);
      if (std::abs(x - y) > tol * scale && bad++ < 3)
        ADD_FAILURE() << name << "[" << i << "]: " << x << " vs " << y << " (relative " << std::abs(x - y) / scale
                      << ", allowed " << tol << ")\n"
                      << a_path << " vs " << b_path;
    }
  }
  return worst;
}

// Every step of `expected` is in `got` with a loss within `rel`; returns the largest relative
// difference.
double expect_same_losses(const std::map<int64_t, double>& got, const std::map<int64_t, double>& expected,
                          const std::string& what, double rel = 1e-5) {
  double worst = 0;
  EXPECT_FALSE(expected.empty()) << what;
  for (const auto& [step, loss] : expected) {
    if (!got.count(step)) {
      ADD_FAILURE() << what << ": no step " << step;
      continue;
    }
    EXPECT_NEAR(got.at(step), loss, rel * std::abs(loss)) << what << ", step " << step;
    if (loss != 0) worst = std::max(worst, std::abs(got.at(step) - loss) / std::abs(loss));
  }
  return worst;
}

class DistributedCli : public CliTest {
 public:
  void SetUp() override {
    CliTest::SetUp();
    mpirun_ = find_mpirun();
    if (mpirun_.empty())
      GTEST_SKIP() << "mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev; "
                      "tools/setup.sh does) to test data-parallel training";
  }

  // onnx-train with `args` on `ranks` processes of one mpirun, one kernel thread each; with
  // `tag`, every output line is prefixed by its rank ("[1,0]<stdout>:").
  pid_t start_ranks(int ranks, const std::vector<std::string>& args, bool tag = false,
                    const std::vector<std::string>& command = {ONNX_TRAIN_CLI}) {
    SpawnOptions options;
    options.binary = mpirun_;
    // Shared memory between the ranks without ptrace rights (containers refuse CMA).
    options.env = {"OMPI_MCA_btl_vader_single_copy_mechanism=none"};
    std::vector<std::string> all = {"--oversubscribe",    "--allow-run-as-root", "--bind-to", "none", "-np",
                                    std::to_string(ranks)};
    if (tag) all.push_back("--tag-output");
    if (testing::kSanitized) {
      // LeakSanitizer would report what Open MPI keeps in the components it unloads at
      // MPI_Finalize: their frames show as "<unknown module>", which no suppression can name.
      // onnx-train's own leaks are still looked for by every single-process test.
      const char* asan = std::getenv("ASAN_OPTIONS");
      all.insert(all.end(),
                 {"-x", std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "detect_leaks=0"});
    }
    all.insert(all.end(), command.begin(), command.end());
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"--threads", "1"});
    const pid_t pid = start(all, options);
    commands_[pid] = "mpirun" + quote_args(all).substr(std::string("onnx-train").size());
    return pid;
  }

  // A run on `ranks` processes that must succeed, saying nothing on stderr (neither rank).
  CliRun ok_ranks(int ranks, const std::vector<std::string>& args, bool tag = false) {
    CliRun r = finish(start_ranks(ranks, args, tag), 120);
    EXPECT_EQ(r.code, 0) << r.show();
    EXPECT_EQ(r.err, "") << r.show();
    return r;
  }

  // One process, as without MPI.
  CliRun ok_single(const std::vector<std::string>& args) { return ok(plus(args, {"--threads", "1"})); }

  std::string mpirun_;
};

// 96 separable samples: 6 batches of 16 an epoch, so every global batch of the 2-rank run at 8
// per rank is a whole batch of the single run at 16.
constexpr int kSamples = 96;

// The MLP, 2 epochs: 2 ranks at 8 vs 1 process at 16 (with `accumulate`), the same seed and
// shuffling. The same step losses and exported weights; only rank 0 speaks and writes.
void expect_two_ranks_equal_one(DistributedCli& t, int accumulate) {
  const std::string model = make_mlp(t.path("mlp.onnx"), false);
  write_npy_data(t.path("data"), separable(kSamples, 5));
  const std::vector<std::string> common = {model,          t.path("data"),
                                           "--epochs",     "2",
                                           "--seed",       "9",
                                           "--lr",         "0.05",
                                           "--accumulate", std::to_string(accumulate)};
  const CliRun two =
      t.ok_ranks(2, plus(common, {"--batch-size", "8", "--log", t.path("two.jsonl"), "-o", t.path("two.onnx")}),
                 /*tag=*/true);
  const CliRun one =
      t.ok_single(plus(common, {"--batch-size", "16", "--log", t.path("one.jsonl"), "-o", t.path("one.onnx")}));

  // Only rank 0 prints: every line mpirun passed on is rank 0's.
  EXPECT_LACKS(two.out, "[1,1]<");
  EXPECT_LACKS(two.err, "[1,1]<");
  EXPECT_HAS(two.out, "[1,0]<stdout>:");
  const int steps = 2 * ((kSamples / 16 + accumulate - 1) / accumulate);
  EXPECT_HAS(two.out, fmt::format("done: {} steps", steps));
  EXPECT_HAS(one.out, fmt::format("done: {} steps", steps));

  const std::string two_log = read_file(t.path("two.jsonl")), one_log = read_file(t.path("one.jsonl"));
  const auto two_losses = step_losses(two_log), one_losses = step_losses(one_log);
  EXPECT_EQ(two_losses.size(), static_cast<size_t>(steps)) << two_log;
  const double losses = expect_same_losses(two_losses, one_losses, "2 ranks at 8 vs 1 process at 16");
  const double weights = expect_same_weights(t.path("two.onnx"), t.path("one.onnx"), 1e-5);
  std::printf("largest relative difference: losses %.2g, weights %.2g\n", losses, weights);

  // Rank 0's log holds the single run's events, once each, then the allreduce summary.
  std::vector<std::string> kinds = log_kinds(two_log);
  ASSERT_FALSE(kinds.empty()) << two_log;
  EXPECT_EQ(kinds.back(), "allreduce") << two_log;
  kinds.erase(std::remove(kinds.begin(), kinds.end(), "allreduce"), kinds.end());
  EXPECT_EQ(kinds, log_kinds(one_log)) << two_log << "\n---\n" << one_log;
  const auto allreduce = allreduce_event(two_log);
  EXPECT_GE(allreduce.count("buckets") ? allreduce.at("buckets") : 0, 1) << two_log;
  EXPECT_GT(allreduce.count("bytes") ? allreduce.at("bytes") : 0, 0) << two_log;
  EXPECT_EQ(allreduce.count("steps") ? allreduce.at("steps") : -1, steps) << two_log;
  for (const char* field : {"total_ms", "exposed_ms", "backward_ms"})
    EXPECT_GE(allreduce.count(field) ? allreduce.at(field) : -1, 0) << field << "\n" << two_log;
  ASSERT_TRUE(allreduce.count("hidden_fraction")) << two_log;
  EXPECT_GE(allreduce.at("hidden_fraction"), 0);
  EXPECT_LE(allreduce.at("hidden_fraction"), 1);
}

TEST_F(DistributedCli, TwoRanksTrainAsOneProcessAtTwiceTheBatch) { expect_two_ranks_equal_one(*this, 1); }

TEST_F(DistributedCli, TwoRanksTrainAsOneProcessWithAccumulate) { expect_two_ranks_equal_one(*this, 2); }

// --bucket-mb sets how the gradients are grouped for the allreduce, not what they sum to: buckets
// smaller than any gradient make one bucket per parameter (the MLP's 4) and the same model as
// the default's single bucket.
TEST_F(DistributedCli, BucketSizeChangesTheBucketsNotTheModel) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(kSamples, 3));
  const std::vector<std::string> common = {model, path("data"), "--epochs", "1", "--seed", "1", "--batch-size", "8"};
  ok_ranks(2, plus(common, {"--log", path("one.jsonl"), "-o", path("one.onnx")}));
  ok_ranks(2, plus(common, {"--bucket-mb", "0.00001", "--log", path("four.jsonl"), "-o", path("four.onnx")}));
  EXPECT_EQ(allreduce_event(read_file(path("one.jsonl")))["buckets"], 1) << read_file(path("one.jsonl"));
  EXPECT_EQ(allreduce_event(read_file(path("four.jsonl")))["buckets"], 4) << read_file(path("four.jsonl"));
  EXPECT_EQ(allreduce_event(read_file(path("four.jsonl")))["bytes"],
            allreduce_event(read_file(path("one.jsonl")))["bytes"]);
  expect_same_losses(step_losses(read_file(path("four.jsonl"))), step_losses(read_file(path("one.jsonl"))),
                     "--bucket-mb 0.00001 vs the default", 0);
  expect_same_weights(path("four.onnx"), path("one.onnx"), 0);
}

// 97 samples in file order (--no-shuffle) on 2 ranks: the order is padded to 98 by repeating its
// first sample, rank 0 taking the even positions and rank 1 the odd ones, the last global batch
// being positions 96 and 97 (one sample a rank). One process trains on the same 98 samples (the 97
// and sample 0 again) at 16: the same steps, losses and model. Both validate on the same 31
// held-out samples (an odd count, shared unevenly by the ranks): the same val loss and accuracy.
TEST_F(DistributedCli, AnUnevenSampleCountIsPaddedWithTheFirstSamples) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  const Samples samples = separable(97, 11);
  Samples padded = samples;
  padded.n = 98;
  padded.x.insert(padded.x.end(), samples.x.begin(), samples.x.begin() + 4);
  padded.y.push_back(samples.y[0]);
  write_npy_data(path("data97"), samples, 31, 11);
  write_npy_data(path("data98"), padded, 31, 11);
  const std::vector<std::string> common = {"--epochs", "2", "--no-shuffle", "--lr", "0.05"};
  const CliRun two = ok_ranks(
      2,
      plus({model, path("data97"), "--batch-size", "8", "--log", path("two.jsonl"), "-o", path("two.onnx")}, common));
  const CliRun one = ok_single(
      plus({model, path("data98"), "--batch-size", "16", "--log", path("one.jsonl"), "-o", path("one.onnx")}, common));
  EXPECT_HAS(two.out, "done: 14 steps");
  EXPECT_HAS(one.out, "done: 14 steps");
  const double losses = expect_same_losses(step_losses(read_file(path("two.jsonl"))),
                                           step_losses(read_file(path("one.jsonl"))), "97 samples on 2 ranks");
  const double weights = expect_same_weights(path("two.onnx"), path("one.onnx"), 1e-5);
  std::printf("largest relative difference: losses %.2g, weights %.2g\n", losses, weights);

  // The validations: every line's val_loss and val_accuracy (the epoch's step, then the numbers).
  static const std::regex val_line(
      "\"step\": ([0-9]+), \"epoch\": [0-9]+, \"val_loss\": ([^,}]+)(, \"val_accuracy\": ([^,}]+))?");
  auto validations = [](const std::string& log) {
    std::vector<std::pair<double, double>> out;
    for (const auto& line : lines_of(log)) {
      std::smatch m;
      if (std::regex_search(line, m, val_line)) out.emplace_back(std::stod(m[2]), m[4].matched ? std::stod(m[4]) : NAN);
    }
    return out;
  };
  const auto two_val = validations(read_file(path("two.jsonl"))), one_val = validations(read_file(path("one.jsonl")));
  ASSERT_EQ(two_val.size(), 2u) << read_file(path("two.jsonl"));
  ASSERT_EQ(one_val.size(), 2u) << read_file(path("one.jsonl"));
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(two_val[i].first, one_val[i].first, 1e-5 * std::abs(one_val[i].first)) << "validation " << i + 1;
    EXPECT_NEAR(two_val[i].second, one_val[i].second, 1e-9) << "validation " << i + 1;
  }
}

// BatchNormalization after the first layer, no Dropout: with --sync-batchnorm the batch
// statistics are those of both ranks' 8 samples together, the single run's batch of 16, so the
// losses, weights and running statistics (its momentum average of those batches' means and
// unbiased variances) agree.
TEST_F(DistributedCli, SyncBatchNormTrainsAsOneProcessAtTwiceTheBatch) {
  testing::MlpOptions bn;
  bn.batch_norm = true;
  // No bias before the BatchNormalization: its gradient is zero but for rounding (the
  // normalisation takes the batch mean away), and the optimizer's step on that noise would move
  // the bias, and with it the running mean, differently in any two runs.
  bn.fc1_bias = false;
  const std::string model = testing::make_mlp(path("bn.onnx"), bn);
  write_npy_data(path("data"), separable(kSamples, 6));
  const std::vector<std::string> common = {model, path("data"), "--epochs", "2", "--seed", "4", "--lr", "0.05"};
  ok_ranks(2,
           plus(common, {"--batch-size", "8", "--sync-batchnorm", "--log", path("two.jsonl"), "-o", path("two.onnx")}));
  ok_single(plus(common, {"--batch-size", "16", "--log", path("one.jsonl"), "-o", path("one.onnx")}));
  const double losses =
      expect_same_losses(step_losses(read_file(path("two.jsonl"))), step_losses(read_file(path("one.jsonl"))),
                         "2 ranks at 8 with --sync-batchnorm vs 1 process at 16");
  const auto exported = weights_of(path("two.onnx"));
  EXPECT_TRUE(exported.count("bn.running_mean") && exported.count("bn.running_var"));
  const double weights = expect_same_weights(path("two.onnx"), path("one.onnx"), 1e-5);
  std::printf("largest relative difference: losses %.2g, weights %.2g\n", losses, weights);

  // Without it each rank normalises by its own 8 samples: the losses differ from the first step.
  ok_ranks(2, plus(common, {"--batch-size", "8", "--log", path("own.jsonl"), "-o", path("own.onnx")}));
  const auto own = step_losses(read_file(path("own.jsonl"))), one = step_losses(read_file(path("one.jsonl")));
  ASSERT_TRUE(own.count(1) && one.count(1));
  EXPECT_GT(std::abs(own.at(1) - one.at(1)), 1e-4 * std::abs(one.at(1)))
      << "per-rank statistics gave the global batch's loss: the test cannot tell --sync-batchnorm apart";
}

// A 2-rank run stopped inside epoch 2 (--max-steps 8 of 12) and resumed on 1 process at twice the
// batch, and a 1-process run stopped there and resumed on 2 ranks: both go on from the same
// global sample (epoch 2, sample 32) and end as the uninterrupted runs.
TEST_F(DistributedCli, CheckpointsResumeAcrossRankCounts) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(kSamples, 7));
  const std::vector<std::string> common = {model, path("data"), "--epochs", "2", "--seed", "2", "--lr", "0.05"};
  const std::vector<std::string> at_8 = {"--batch-size", "8"}, at_16 = {"--batch-size", "16"};

  // Uninterrupted, on 2 ranks and on 1.
  ok_ranks(2, plus(plus(common, at_8), {"--log", path("straight2.jsonl"), "-o", path("straight2.onnx")}));
  ok_single(plus(plus(common, at_16), {"--log", path("straight1.jsonl"), "-o", path("straight1.onnx")}));
  const auto straight2 = step_losses(read_file(path("straight2.jsonl")));
  const auto straight1 = step_losses(read_file(path("straight1.jsonl")));
  ASSERT_EQ(straight2.size(), 12u);

  // 2 ranks to step 8, then 1 process at 16 to the end.
  const std::vector<std::string> ck2 = {"--checkpoint-dir", path("ck2"), "--log", path("a.jsonl")};
  const CliRun first2 = ok_ranks(2, plus(plus(plus(common, at_8), ck2), {"--max-steps", "8"}));
  EXPECT_HAS(first2.out, "done: 8 steps");
  ASSERT_TRUE(fs::exists(path("ck2/step-000000008.ckpt"))) << joined(tree(path("ck2")));
  EXPECT_EQ(TrainingSession::read_checkpoint_metadata(path("ck2/step-000000008.ckpt")).at("cli.epoch_sample"), "32");
  const std::set<std::string> written_by_two = tree(path("ck2"));
  const CliRun rest1 = ok_single(plus(plus(plus(common, at_16), ck2), {"--resume", "-o", path("a.onnx")}));
  EXPECT_HAS(rest1.out, "resumed from " + path("ck2/step-000000008.ckpt"));
  EXPECT_HAS(rest1.out, "done: 12 steps");
  const auto a = step_losses(read_file(path("a.jsonl")));
  EXPECT_EQ(a.size(), 12u);
  const double a_losses = expect_same_losses(a, straight2, "2 ranks to step 8, then 1 process");
  const double a_weights = expect_same_weights(path("a.onnx"), path("straight2.onnx"), 1e-5);
  std::printf("2 ranks, then 1 process: largest relative difference: losses %.2g, weights %.2g\n", a_losses, a_weights);

  // 1 process at 16 to step 8, then 2 ranks at 8 to the end.
  const std::vector<std::string> ck1 = {"--checkpoint-dir", path("ck1"), "--log", path("b.jsonl")};
  ok_single(plus(plus(plus(common, at_16), ck1), {"--max-steps", "8"}));
  // Only rank 0 wrote checkpoints: the same files as the single run's.
  EXPECT_EQ(written_by_two, tree(path("ck1")));
  const CliRun rest2 = ok_ranks(2, plus(plus(plus(common, at_8), ck1), {"--resume", "-o", path("b.onnx")}));
  EXPECT_HAS(rest2.out, "resumed from " + path("ck1/step-000000008.ckpt"));
  EXPECT_HAS(rest2.out, "done: 12 steps");
  const auto b = step_losses(read_file(path("b.jsonl")));
  EXPECT_EQ(b.size(), 12u);
  const double b_losses = expect_same_losses(b, straight1, "1 process to step 8, then 2 ranks");
  const double b_weights = expect_same_weights(path("b.onnx"), path("straight1.onnx"), 1e-5);
  std::printf("1 process, then 2 ranks: largest relative difference: losses %.2g, weights %.2g\n", b_losses, b_weights);
}

// A single run at 8 stopped after 5 steps (sample 40 of 96) goes on under 2 ranks at 8: the 56
// samples left make global batches of 16, 16, 16 and a last 8 (4 a rank), the batches a single
// process resumed at 16 takes, so both end alike, epoch 2 included.
TEST_F(DistributedCli, ResumeOnTwoRanksFromASampleInsideAGlobalBatch) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(kSamples, 9));
  const std::vector<std::string> common = {model, path("data"), "--epochs", "2", "--seed", "5", "--lr", "0.05"};
  for (const char* ck : {"ck1", "ck2"})
    ok_single(plus(common, {"--batch-size", "8", "--max-steps", "5", "--checkpoint-dir", path(ck)}));
  EXPECT_EQ(TrainingSession::read_checkpoint_metadata(path("ck2/step-000000005.ckpt")).at("cli.epoch_sample"), "40");
  const CliRun one = ok_single(plus(common, {"--batch-size", "16", "--resume", "--checkpoint-dir", path("ck1"), "--log",
                                             path("one.jsonl"), "-o", path("one.onnx")}));
  const CliRun two = ok_ranks(2, plus(common, {"--batch-size", "8", "--resume", "--checkpoint-dir", path("ck2"),
                                               "--log", path("two.jsonl"), "-o", path("two.onnx")}));
  EXPECT_HAS(one.out, "done: 15 steps");
  EXPECT_HAS(two.out, "done: 15 steps");
  const double losses = expect_same_losses(step_losses(read_file(path("two.jsonl"))),
                                           step_losses(read_file(path("one.jsonl"))), "resumed at 16 vs on 2 ranks");
  const double weights = expect_same_weights(path("two.onnx"), path("one.onnx"), 1e-5);
  std::printf("largest relative difference: losses %.2g, weights %.2g\n", losses, weights);
}

// The process's state letter from /proc/PID/stat ('Z' a zombie, 'T' stopped); 0 when it is gone.
char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// Whether `pid` is still one of this test's onnx-train processes (not a reused pid).
bool is_our_rank(pid_t pid) {
  const std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find("onnx-train") != std::string::npos;
}

// Rank 1 stopped (SIGSTOP) after training began: rank 0 waits --dist-timeout 5 s in the step's
// allreduce, then fails naming rank 1 by its host and pid, as never having reached the allreduce or
// as silent inside it; the run exits non-zero well within 30 s.
TEST_F(DistributedCli, ARankThatHangsIsNamedWithinTheTimeout) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(2000, 8));  // 125 steps an epoch, 400 epochs: runs until stopped
  const std::string log = path("hang.jsonl");
  // Each rank writes its pid (the shell's, which exec makes onnx-train's) before it starts.
  const std::string launch = "echo $$ > " + sh_quote(path("pid")) + ".$OMPI_COMM_WORLD_RANK; exec \"$0\" \"$@\"";
  const pid_t run = start_ranks(2,
                                {model, path("data"), "--batch-size", "8", "--epochs", "400", "--dist-timeout", "5",
                                 "--log", log, "-o", path("hang.onnx")},
                                /*tag=*/true, {"sh", "-c", launch, ONNX_TRAIN_CLI});
  std::vector<pid_t> ranks;
  bool reaped = false;
  // Whatever is left when the test ends, whichever way: the ranks that wrote their pid, then mpirun.
  struct Cleanup {
    std::function<void()> run;
    ~Cleanup() { run(); }
  } cleanup{[&] {
    for (int r = 0; r < 2; ++r) {
      const std::string text = read_file(path("pid." + std::to_string(r)));
      const pid_t p = text.empty() ? 0 : static_cast<pid_t>(std::stol(text));
      if (p > 0 && state_of(p) != 0 && is_our_rank(p)) kill(p, SIGKILL);
    }
    if (!reaped) {
      kill(run, SIGKILL);
      waitpid(run, nullptr, 0);
    }
  }};

  ASSERT_TRUE(wait_until([&] { return count_of(read_file(log), "\"loss\"") >= 1; }, 60)) << "no step logged\n"
                                                                                         << out_of(run) << err_of(run);
  for (int r = 0; r < 2; ++r) {
    const std::string text = read_file(path("pid." + std::to_string(r)));
    ASSERT_FALSE(text.empty()) << "rank " << r << " wrote no pid";
    ranks.push_back(static_cast<pid_t>(std::stol(text)));
  }
  ASSERT_TRUE(is_our_rank(ranks[1])) << "pid " << ranks[1];
  ASSERT_EQ(kill(ranks[1], SIGSTOP), 0);
  const auto stopped = std::chrono::steady_clock::now();
  const bool rank0_ended = wait_until(
      [&] {
        const char s = state_of(ranks[0]);
        return s == 0 || s == 'Z';
      },
      30);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  EXPECT_TRUE(rank0_ended) << "rank 0 still runs 30 s after rank 1 stopped";
  // Let mpirun end the stopped rank as it ends a job whose rank failed; SIGKILL after 20 s.
  if (!wait_until([&] { return state_of(ranks[1]) == 0 || state_of(ranks[1]) == 'Z'; }, 20) && is_our_rank(ranks[1]))
    kill(ranks[1], SIGKILL);
  CliRun r = finish(run, 30);
  reaped = true;
  EXPECT_NE(r.code, 0) << r.show();
  EXPECT_GE(seconds, 4.5) << "rank 0 gave up before --dist-timeout 5\n" << r.show();
  EXPECT_LT(seconds, 30) << r.show();
  // Rank 0's message (rank 1, once mpirun wakes it to end it, may print its own, which names itself).
  std::string rank0;
  for (const auto& line : lines_of(r.err))
    if (line.rfind("[1,0]<stderr>:", 0) == 0) rank0 += line.substr(14) + "\n";
  EXPECT_HAS(rank0, "onnx-train: error: ");
  EXPECT_HAS(rank0, "rank 1 (host ");
  EXPECT_HAS(rank0, fmt::format("pid {})", ranks[1]));
  // Stopped between collectives, rank 1 never reached rank 0's; stopped inside one (as often as
  // not: a step of this MLP is mostly its allreduces), it reached it and fell silent.
  EXPECT_TRUE(rank0.find("rank 1 (host ") != std::string::npos &&
              (rank0.find("never reached it") != std::string::npos ||
               rank0.find("reached it, then stopped answering") != std::string::npos))
      << rank0;
  EXPECT_HAS(rank0, "--dist-timeout");
  EXPECT_FALSE(fs::exists(path("hang.onnx")));
  std::printf("rank 0 stopped %.1f s after rank 1 did (--dist-timeout 5): rank 1 %s\n", seconds,
              rank0.find("never reached it") != std::string::npos ? "never reached the collective"
                                                                  : "fell silent inside the collective");
}

// --distributed insists on an MPI launch: run without mpirun it fails before training; without it
// the same command trains as one process.
TEST_F(DistributedCli, DistributedWithoutMpirunFails) {
  const std::string model = make_mlp(path("mlp.onnx"), false);
  write_npy_data(path("data"), separable(32, 1));
  const std::vector<std::string> args = {model, path("data"), "--batch-size", "8", "-o", path("out.onnx")};
  fails(plus(args, {"--distributed"}), {"--distributed", "mpirun"});
  EXPECT_FALSE(fs::exists(path("out.onnx")));
  EXPECT_HAS(ok(args).out, "done: 4 steps");
}

}  // namespace
}  // namespace onnx_train::cli_test
