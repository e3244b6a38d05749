// Learning-rate schedules (runtime/optim/schedules.h): parity with torch.optim.lr_scheduler,
// the warm-up boundary, and the parser's errors.
//
// The fixture tests/data/schedule_parity/schedules.txt is made by
// tests/data/make_schedule_parity.py (regenerate with /usr/bin/python3 and Debian's
// python3-torch): PyTorch's lr for 60 optimizer steps of 20 configurations, every kind with
// and without warm-up. Tolerance rtol 1e-9 (atol 1e-15 for the exact zeros): PyTorch mostly
// computes recursively (lr *= factor each step) and we use the closed forms, equal up to
// double rounding.
#include "onnx_train/schedules.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "onnx_train/error.h"

namespace onnx_train {
namespace {

const std::string kFixture = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/data/schedule_parity/schedules.txt";

struct ParityCase {
  std::string name, spec;
  std::vector<double> lrs;
};

std::vector<ParityCase> read_cases() {
  std::ifstream in(kFixture);
  EXPECT_TRUE(in) << "cannot open " << kFixture;
  std::vector<ParityCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string tag;
    words >> tag;
    if (tag == "case") {
      cases.emplace_back();
      words >> cases.back().name >> cases.back().spec;
    } else if (tag == "lr") {
      double v;
      while (words >> v) cases.back().lrs.push_back(v);
    }
  }
  return cases;
}

// Both |a - b| <= 1e-9 |b| + 1e-15.
void expect_close(double got, double want, const std::string& where) {
  EXPECT_LE(std::abs(got - want), 1e-9 * std::abs(want) + 1e-15) << where << ": got " << got << ", PyTorch " << want;
}

TEST(Schedules, MatchPyTorchSchedulersStepForStep) {
  const auto cases = read_cases();
  ASSERT_EQ(cases.size(), 20u);
  std::set<std::string> kinds_seen;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name + " " + c.spec);
    ASSERT_EQ(c.lrs.size(), 60u);
    const ScheduleOptions options = parse_schedule(c.spec);
    kinds_seen.insert(options.kind);
    for (size_t s = 0; s < c.lrs.size(); ++s) {
      expect_close(learning_rate(options, static_cast<int64_t>(s)), c.lrs[s], "step " + std::to_string(s));
    }
  }
  EXPECT_EQ(kinds_seen.size(), schedule_kinds().size()) << "every kind has a PyTorch case";
}

TEST(Schedules, WarmupEndsTheWaySequentialLRDoes) {
  // SequentialLR hands over to the main scheduler at the milestone before LinearLR reaches
  // factor 1: the last warm-up step is lr0 (f + (1 - f)(W - 1)/W), the next one lr0.
  ScheduleOptions o = parse_schedule("cosine:base_lr=0.2,total_steps=100,warmup_steps=10,warmup_start_factor=0.5");
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 9), 0.2 * (0.5 + 0.5 * 9 / 10.0));
  EXPECT_DOUBLE_EQ(learning_rate(o, 10), 0.2);
  EXPECT_DOUBLE_EQ(learning_rate(o, 55), 0.1);  // half-way through the 90 cosine steps
  // Start factor 0 (our default) starts from exactly 0; PyTorch's recursive LinearLR cannot.
  o.warmup_start_factor = 0;
  EXPECT_EQ(learning_rate(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 5), 0.1);
  // onecycle warms up to its own start, max_lr / div_factor (PyTorch's cos anneal at pct 0
  // gives it up to a few ulps).
  const ScheduleOptions one = parse_schedule("onecycle:max_lr=1,total_steps=50,warmup_steps=4,warmup_start_factor=0.5");
  EXPECT_NEAR(learning_rate(one, 0), 0.02, 1e-15);
  EXPECT_NEAR(learning_rate(one, 4), 0.04, 1e-15);
}

TEST(Schedules, ArePureFunctionsOfTheStep) {
  // A resumed run asks for step 1000 without having seen 0..999.
  const ScheduleOptions o = parse_schedule("cosine-restarts:base_lr=1,t0=3,t_mult=2");
  // Cycles 3, 6, 12, 24, ...: step 3 + 6 + 12 = 21 starts the fourth cycle (length 24).
  EXPECT_DOUBLE_EQ(learning_rate(o, 21), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 33), 0.5);
  EXPECT_EQ(learning_rate(o, 33), learning_rate(o, 33));
  const double late = learning_rate(o, 1000000);
  EXPECT_TRUE(late >= 0 && late <= 1) << late;
  // Equal cycles: a remainder, so a far step costs nothing.
  const ScheduleOptions equal = parse_schedule("cosine-restarts:base_lr=1,t0=4");
  EXPECT_DOUBLE_EQ(learning_rate(equal, 4000000000002), 0.5);
  const ScheduleOptions step = parse_schedule("step:base_lr=1,step_size=10,gamma=0.5");
  EXPECT_DOUBLE_EQ(learning_rate(step, 1000), std::pow(0.5, 100));
  // Linear stays at end_factor after its steps.
  const ScheduleOptions linear = parse_schedule("linear:base_lr=2,total_steps=10,end_factor=0.25");
  EXPECT_DOUBLE_EQ(learning_rate(linear, 10), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(linear, 500), 0.5);
}

// Expects f to throw Error with `expected` in its message.
template <typename F>
void expect_error(F&& f, const std::string& expected) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one saying: " << expected;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

TEST(Schedules, ParserAndValidationGiveClearErrors) {
  // One row per mistake: the spec and what its message must say.
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"cosin:base_lr=1", "unknown kind 'cosin'; the kinds are constant, step"},
      {"cosine:base_lr=1,total_steps=9,gamma=0.5",
       "a cosine schedule has no option 'gamma'; its options are base_lr, eta_min, total_steps"},
      {"step:base_lr=0.1x,step_size=3", "base_lr=0.1x is not a number"},
      {"step:base_lr=0.1,step_size", "'step_size' is not key=value"},
      {"step:base_lr=0.1", "step_size is 0; give 1 or more"},
      {"cosine:base_lr=0.1,total_steps=5,warmup_steps=5", "total_steps (5) must exceed warmup_steps (5)"},
      {"multistep:base_lr=0.1,milestones=3/x", "milestones=x is not a whole number"},
      {"multistep:base_lr=0.1", "give milestones"},
      {"cosine-restarts:base_lr=0.1", "t0 is 0; give the first cycle's length"},
      {"linear:base_lr=0.1,total_steps=9,end_factor=2", "end_factor 2 must be in [0, 1]"},
      {"onecycle:total_steps=10", "max_lr is 0; give the peak rate"},
      {"onecycle:max_lr=1,total_steps=10,anneal=cosine", "anneal is 'cosine'; use cos or linear"},
      {"onecycle:max_lr=1,total_steps=10,three_phase=yes", "three_phase=yes is not 0, 1, true or false"},
  };
  for (const auto& [spec, expected] : rows) {
    SCOPED_TRACE(spec);
    expect_error([&spec = spec] { parse_schedule(spec); }, expected);
  }
  const ScheduleOptions one = parse_schedule("onecycle:max_lr=1,total_steps=10");
  EXPECT_NO_THROW(learning_rate(one, 10));  // PyTorch allows the step after the last one
  expect_error([&] { learning_rate(one, 11); }, "step 11 is past its 10 steps");
  expect_error([&] { learning_rate(one, -1); }, "step -1 is negative");
  ScheduleOptions bad;
  bad.kind = "exponential";
  bad.base_lr = -1;
  expect_error([&] { learning_rate(bad, 0); }, "base_lr is -1; give a finite rate >= 0");
}

TEST(Schedules, ParserReadsEveryField) {
  const ScheduleOptions m = parse_schedule("multistep:base_lr=0.5,milestones=30/60/60,gamma=0.2,warmup_steps=3");
  EXPECT_EQ(m.milestones, (std::vector<int64_t>{30, 60, 60}));
  EXPECT_EQ(m.gamma, 0.2);
  EXPECT_EQ(m.warmup_steps, 3);
  const ScheduleOptions o = parse_schedule(
      "onecycle:max_lr=2,total_steps=100,pct_start=0.4,div_factor=10,final_div_factor=1e3,anneal=linear,three_phase="
      "true");
  EXPECT_EQ(o.max_lr, 2);
  EXPECT_EQ(o.pct_start, 0.4);
  EXPECT_EQ(o.div_factor, 10);
  EXPECT_EQ(o.final_div_factor, 1e3);
  EXPECT_EQ(o.anneal, "linear");
  EXPECT_TRUE(o.three_phase);
  const ScheduleOptions c = parse_schedule("constant");
  EXPECT_EQ(c.kind, "constant");
  EXPECT_EQ(learning_rate(c, 7), 0.0);
}

// format_schedule writes every option of the kind so that parsing it back gives the same
// rates bit for bit (checkpoints store schedules this way).
TEST(Schedules, FormatReadsBackExactly) {
  for (const char* spec :
       {"constant:base_lr=0.1", "step:base_lr=0.1,step_size=3,gamma=0.3,warmup_steps=2,warmup_start_factor=0.1",
        "multistep:base_lr=0.1,milestones=5/2/5,gamma=0.7", "exponential:base_lr=0.3,gamma=0.9",
        "cosine:base_lr=0.0123456789,total_steps=37,warmup_steps=5,eta_min=1e-5",
        "cosine-restarts:base_lr=0.1,t0=4,t_mult=2,eta_min=0.001", "linear:base_lr=0.1,total_steps=20,end_factor=0.05",
        "onecycle:max_lr=0.4,total_steps=50,anneal=linear,three_phase=1,pct_start=0.25"}) {
    const ScheduleOptions options = parse_schedule(spec);
    const std::string formatted = format_schedule(options);
    const ScheduleOptions again = parse_schedule(formatted);
    EXPECT_EQ(format_schedule(again), formatted);
    for (int64_t step = 0; step <= 50; ++step)
      EXPECT_EQ(learning_rate(options, step), learning_rate(again, step)) << spec << " -> " << formatted;
  }
  EXPECT_EQ(format_schedule(parse_schedule("exponential:base_lr=0.5,gamma=0.25")),
            "exponential:base_lr=0.5,gamma=0.25,total_steps=0,warmup_start_factor=0,warmup_steps=0");
}

}  // namespace
}  // namespace onnx_train
