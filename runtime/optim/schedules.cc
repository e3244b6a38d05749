// runtime/optim/schedules.cc: the closed forms of the learning-rate schedules (math and the
// PyTorch equivalents in schedules.h) and the "kind:key=value,..." parser.
#include "onnx_train/schedules.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>

#include "onnx_train/error.h"

namespace onnx_train {

namespace {

const double kPi = std::acos(-1.0);

bool is_kind(const std::string& kind) {
  const auto kinds = schedule_kinds();
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

bool uses_total_steps(const std::string& kind) { return kind == "cosine" || kind == "linear" || kind == "onecycle"; }

// OneCycleLR's phases: each anneals from start_lr at the previous phase's end_step (0 for the
// first) to end_lr at its own end_step. end_step is fractional, as in PyTorch.
struct Phase {
  double end_step, start_lr, end_lr;
};

double one_cycle(const ScheduleOptions& o, int64_t total, int64_t e) {
  OT_CHECK(e <= total,
           "onecycle schedule: step {} is past its {} steps (PyTorch's OneCycleLR refuses too); raise total_steps", e,
           total);
  const double initial = o.max_lr / o.div_factor, min_lr = initial / o.final_div_factor;
  const double up_end = o.pct_start * static_cast<double>(total) - 1;
  const double t = static_cast<double>(total);
  const Phase two[] = {{up_end, initial, o.max_lr}, {t - 1, o.max_lr, min_lr}};
  const Phase three[] = {
      {up_end, initial, o.max_lr}, {2 * o.pct_start * t - 2, o.max_lr, initial}, {t - 1, initial, min_lr}};
  const Phase* phases = o.three_phase ? three : two;
  const size_t count = o.three_phase ? 3 : 2;
  const double step = static_cast<double>(e);
  double start_step = 0;
  for (size_t i = 0; i < count; ++i) {
    const Phase& phase = phases[i];
    if (step <= phase.end_step || i + 1 == count) {
      OT_CHECK(phase.end_step != start_step,
               "onecycle schedule: phase {} is empty (pct_start {} of {} steps); change pct_start or total_steps",
               i + 1, o.pct_start, total);
      const double pct = (step - start_step) / (phase.end_step - start_step);
      if (o.anneal == "cos") return phase.end_lr + (phase.start_lr - phase.end_lr) / 2.0 * (std::cos(kPi * pct) + 1);
      return (phase.end_lr - phase.start_lr) * pct + phase.start_lr;
    }
    start_step = phase.end_step;
  }
  OT_FAIL("onecycle schedule: no phase for step {}", e);  // unreachable: the last phase takes all
}

// The main schedule (no warm-up) at its step e over t = total_steps - warmup_steps steps.
double main_schedule(const ScheduleOptions& o, int64_t t, int64_t e) {
  const std::string& k = o.kind;
  if (k == "constant") return o.base_lr;
  if (k == "step") return o.base_lr * std::pow(o.gamma, static_cast<double>(e / o.step_size));
  if (k == "multistep") {
    const auto passed = std::count_if(o.milestones.begin(), o.milestones.end(), [&](int64_t m) { return m <= e; });
    return o.base_lr * std::pow(o.gamma, static_cast<double>(passed));
  }
  if (k == "exponential") return o.base_lr * std::pow(o.gamma, static_cast<double>(e));
  if (k == "cosine") {
    return o.eta_min +
           (o.base_lr - o.eta_min) * (1 + std::cos(kPi * static_cast<double>(e) / static_cast<double>(t))) / 2;
  }
  if (k == "cosine-restarts") {
    // Walk the cycles as CosineAnnealingWarmRestarts.step() does, in integers: no log-based
    // cycle index, whose rounding could pick the wrong cycle at a boundary. Equal cycles are
    // a remainder; growing ones take O(log e) turns. A length past 2^63 (a step no run
    // reaches) saturates rather than overflows.
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    int64_t cur = e % o.t0, length = o.t0;
    if (o.t_mult > 1) {
      cur = e;
      while (cur >= length) {
        cur -= length;
        length = length > kMax / o.t_mult ? kMax : length * o.t_mult;
      }
    }
    return o.eta_min +
           (o.base_lr - o.eta_min) * (1 + std::cos(kPi * static_cast<double>(cur) / static_cast<double>(length))) / 2;
  }
  if (k == "linear") {
    return o.base_lr * (o.start_factor +
                        (o.end_factor - o.start_factor) * static_cast<double>(std::min(t, e)) / static_cast<double>(t));
  }
  return one_cycle(o, t, e);
}

}  // namespace

std::vector<std::string> schedule_kinds() {
  return {"constant", "step", "multistep", "exponential", "cosine", "cosine-restarts", "linear", "onecycle"};
}

void validate_schedule(const ScheduleOptions& o) {
  OT_CHECK(is_kind(o.kind), "learning-rate schedule: unknown kind '{}'; the kinds are {}", o.kind,
           fmt::join(schedule_kinds(), ", "));
  const std::string& k = o.kind;
  if (k != "onecycle") {
    OT_CHECK(std::isfinite(o.base_lr) && o.base_lr >= 0, "{} schedule: base_lr is {}; give a finite rate >= 0", k,
             o.base_lr);
  }
  OT_CHECK(o.warmup_steps >= 0, "{} schedule: warmup_steps is {}; give 0 (no warm-up) or more", k, o.warmup_steps);
  OT_CHECK(o.warmup_start_factor >= 0 && o.warmup_start_factor <= 1,
           "{} schedule: warmup_start_factor is {}; it must be in [0, 1]", k, o.warmup_start_factor);
  if (uses_total_steps(k)) {
    OT_CHECK(o.total_steps > o.warmup_steps,
             "{} schedule: total_steps ({}) must exceed warmup_steps ({}); set total_steps to the run's optimizer "
             "steps",
             k, o.total_steps, o.warmup_steps);
  }
  if (k == "step") OT_CHECK(o.step_size >= 1, "step schedule: step_size is {}; give 1 or more", o.step_size);
  if (k == "step" || k == "multistep" || k == "exponential") {
    OT_CHECK(std::isfinite(o.gamma) && o.gamma >= 0, "{} schedule: gamma is {}; give a finite factor >= 0", k, o.gamma);
  }
  if (k == "multistep") OT_CHECK(!o.milestones.empty(), "multistep schedule: give milestones, e.g. 30/60/90");
  if (k == "cosine" || k == "cosine-restarts") {
    OT_CHECK(std::isfinite(o.eta_min) && o.eta_min >= 0, "{} schedule: eta_min is {}; give a finite rate >= 0", k,
             o.eta_min);
  }
  if (k == "cosine-restarts") {
    OT_CHECK(o.t0 >= 1, "cosine-restarts schedule: t0 is {}; give the first cycle's length, 1 or more", o.t0);
    OT_CHECK(o.t_mult >= 1, "cosine-restarts schedule: t_mult is {}; give 1 or more", o.t_mult);
  }
  if (k == "linear") {
    OT_CHECK(o.start_factor >= 0 && o.start_factor <= 1 && o.end_factor >= 0 && o.end_factor <= 1,
             "linear schedule: start_factor {} and end_factor {} must be in [0, 1] (as in PyTorch's LinearLR)",
             o.start_factor, o.end_factor);
  }
  if (k == "onecycle") {
    OT_CHECK(std::isfinite(o.max_lr) && o.max_lr > 0, "onecycle schedule: max_lr is {}; give the peak rate, > 0",
             o.max_lr);
    OT_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "onecycle schedule: pct_start is {}; it must be in [0, 1]",
             o.pct_start);
    OT_CHECK(o.div_factor > 0 && o.final_div_factor > 0,
             "onecycle schedule: div_factor {} and final_div_factor {} must be > 0", o.div_factor, o.final_div_factor);
    OT_CHECK(o.anneal == "cos" || o.anneal == "linear", "onecycle schedule: anneal is '{}'; use cos or linear",
             o.anneal);
  }
}

double learning_rate(const ScheduleOptions& options, int64_t step) {
  validate_schedule(options);
  OT_CHECK(step >= 0, "{} schedule: step {} is negative; steps count from 0", options.kind, step);
  const int64_t main_steps = options.total_steps - options.warmup_steps;
  if (step >= options.warmup_steps) return main_schedule(options, main_steps, step - options.warmup_steps);
  // lr0 (f + (1 - f) step / W): LinearLR's closed form, ramping to the main schedule's start.
  const double lr0 = main_schedule(options, main_steps, 0);
  const double f = options.warmup_start_factor;
  return lr0 * (f + (1 - f) * static_cast<double>(step) / static_cast<double>(options.warmup_steps));
}

namespace {

double parse_double(const std::string& key, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0, "learning-rate schedule: {}={} is not a number", key, text);
  return value;
}

int64_t parse_int(const std::string& key, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  OT_CHECK(!text.empty() && *end == '\0' && errno == 0, "learning-rate schedule: {}={} is not a whole number", key,
           text);
  return value;
}

bool parse_bool(const std::string& key, const std::string& text) {
  if (text == "1" || text == "true") return true;
  if (text == "0" || text == "false") return false;
  OT_FAIL("learning-rate schedule: {}={} is not 0, 1, true or false", key, text);
}

using Setter = std::function<void(ScheduleOptions&, const std::string& key, const std::string& value)>;
using Getter = std::function<std::string(const ScheduleOptions&)>;

// Each key with the kinds that read it ("" for every kind), how it is stored and how it is
// written back (format_schedule: doubles with 17 significant digits, so they read back exactly).
struct Key {
  std::string kinds;
  Setter set;
  Getter get;
};

Key double_key(std::string kinds, double ScheduleOptions::*field) {
  return {std::move(kinds),
          [field](ScheduleOptions& o, const std::string& k, const std::string& v) { o.*field = parse_double(k, v); },
          [field](const ScheduleOptions& o) { return fmt::format("{:.17g}", o.*field); }};
}
Key int_key(std::string kinds, int64_t ScheduleOptions::*field) {
  return {std::move(kinds),
          [field](ScheduleOptions& o, const std::string& k, const std::string& v) { o.*field = parse_int(k, v); },
          [field](const ScheduleOptions& o) { return std::to_string(o.*field); }};
}

const std::map<std::string, Key>& keys() {
  static const std::map<std::string, Key> table = {
      {"base_lr", double_key("constant step multistep exponential cosine cosine-restarts linear", &ScheduleOptions::base_lr)},
      {"total_steps", int_key("", &ScheduleOptions::total_steps)},
      {"warmup_steps", int_key("", &ScheduleOptions::warmup_steps)},
      {"warmup_start_factor", double_key("", &ScheduleOptions::warmup_start_factor)},
      {"step_size", int_key("step", &ScheduleOptions::step_size)},
      {"milestones",
       {"multistep",
        [](ScheduleOptions& o, const std::string& k, const std::string& v) {
          o.milestones.clear();
          size_t begin = 0;
          while (true) {
            const size_t slash = v.find('/', begin);
            o.milestones.push_back(parse_int(k, v.substr(begin, slash - begin)));
            if (slash == std::string::npos) break;
            begin = slash + 1;
          }
        },
        [](const ScheduleOptions& o) { return fmt::format("{}", fmt::join(o.milestones, "/")); }}},
      {"gamma", double_key("step multistep exponential", &ScheduleOptions::gamma)},
      {"eta_min", double_key("cosine cosine-restarts", &ScheduleOptions::eta_min)},
      {"t0", int_key("cosine-restarts", &ScheduleOptions::t0)},
      {"t_mult", int_key("cosine-restarts", &ScheduleOptions::t_mult)},
      {"start_factor", double_key("linear", &ScheduleOptions::start_factor)},
      {"end_factor", double_key("linear", &ScheduleOptions::end_factor)},
      {"max_lr", double_key("onecycle", &ScheduleOptions::max_lr)},
      {"pct_start", double_key("onecycle", &ScheduleOptions::pct_start)},
      {"div_factor", double_key("onecycle", &ScheduleOptions::div_factor)},
      {"final_div_factor", double_key("onecycle", &ScheduleOptions::final_div_factor)},
      {"anneal",
       {"onecycle", [](ScheduleOptions& o, const std::string&, const std::string& v) { o.anneal = v; },
        [](const ScheduleOptions& o) { return o.anneal; }}},
      {"three_phase",
       {"onecycle",
        [](ScheduleOptions& o, const std::string& k, const std::string& v) { o.three_phase = parse_bool(k, v); },
        [](const ScheduleOptions& o) { return std::string(o.three_phase ? "1" : "0"); }}},
  };
  return table;
}

bool key_applies(const Key& key, const std::string& kind) {
  if (key.kinds.empty()) return true;
  const std::string spaced = " " + key.kinds + " ";
  return spaced.find(" " + kind + " ") != std::string::npos;
}

}  // namespace

ScheduleOptions parse_schedule(const std::string& spec) {
  ScheduleOptions options;
  const size_t colon = spec.find(':');
  options.kind = spec.substr(0, colon);
  OT_CHECK(is_kind(options.kind), "learning-rate schedule '{}': unknown kind '{}'; the kinds are {}", spec,
           options.kind, fmt::join(schedule_kinds(), ", "));
  if (colon != std::string::npos) {
    const std::string rest = spec.substr(colon + 1);
    size_t begin = 0;
    while (begin <= rest.size()) {
      const size_t comma = std::min(rest.find(',', begin), rest.size());
      const std::string item = rest.substr(begin, comma - begin);
      const size_t eq = item.find('=');
      OT_CHECK(eq != std::string::npos && eq > 0, "learning-rate schedule '{}': '{}' is not key=value", spec, item);
      const std::string key = item.substr(0, eq);
      const auto found = keys().find(key);
      std::vector<std::string> valid;
      for (const auto& [name, entry] : keys()) {
        if (key_applies(entry, options.kind)) valid.push_back(name);
      }
      OT_CHECK(found != keys().end() && key_applies(found->second, options.kind),
               "learning-rate schedule '{}': a {} schedule has no option '{}'; its options are {}", spec, options.kind,
               key, fmt::join(valid, ", "));
      found->second.set(options, key, item.substr(eq + 1));
      begin = comma + 1;
    }
  }
  validate_schedule(options);
  return options;
}

std::string format_schedule(const ScheduleOptions& options) {
  validate_schedule(options);
  std::vector<std::string> items;
  for (const auto& [name, key] : keys()) {
    if (key_applies(key, options.kind)) items.push_back(name + "=" + key.get(options));
  }
  return fmt::format("{}:{}", options.kind, fmt::join(items, ","));
}

}  // namespace onnx_train
