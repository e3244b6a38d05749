// Data-parallel steps of a TrainingSession (onnx_train/distributed.h): gradient buckets whose
// allreduce overlaps the backward pass, the loss and weights summed across ranks, rank 0's
// state given to every rank.
//
// A step on rank r with micro-batch weight w_r (its batch size for a "mean" loss) and gradient
// g_r: every rank packs w_r * g_r (plus its accumulated sum of earlier micro-batches, under
// --accumulate) into the buckets; the allreduce sums them; dividing by the summed weights
// gives sum_r w_r g_r / sum_r w_r, the gradient of one batch holding every rank's samples. The
// optimizer then steps on the same gradient on every rank, so the weights stay identical.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/core/parallel_ranges.h"
#include "runtime/train/session_impl.h"
#include "runtime/train/step_math.h"

namespace onnx_train {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// dst[i] = w * g[i] (+ acc[i] when acc is given), on all threads.
template <typename T>
void pack(T* __restrict dst, const T* __restrict g, const T* __restrict acc, double weight, int64_t n) {
  const T w = static_cast<T>(weight);
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
    if (acc != nullptr && g != nullptr) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) dst[i] = acc[i] + w * g[i];
    } else if (g != nullptr) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) dst[i] = w * g[i];
    } else {
      std::memcpy(dst + begin, acc + begin, static_cast<size_t>(end - begin) * sizeof(T));
    }
  });
}

}  // namespace

void TrainingSession::Impl::start_data_parallel() {
  Communicator& c = *group;
  // Buckets: parameters in the order the backward pass computes their gradients (the plan's
  // step that writes each), filled up to bucket_bytes; a new dtype starts a new bucket. A
  // gradient no step computes (passed through) is taken as ready at the last step.
  const int64_t last_step = static_cast<int64_t>(train_plan->step_count()) - 1;
  std::vector<std::pair<int64_t, size_t>> order;  // (ready step, parameter)
  for (size_t i = 0; i < parameters.size(); ++i) {
    const int64_t step = train_plan->step_of_output(parameters[i].grad_output);
    order.emplace_back(step < 0 ? last_step : step, i);
  }
  std::sort(order.begin(), order.end());
  const int64_t cap = std::max<int64_t>(options.distributed.bucket_bytes, 1);
  int64_t bytes = 0, count = 0;
  for (const auto& [step, i] : order) {
    const Tensor& value = parameters[i].value;
    const int64_t nbytes = static_cast<int64_t>(value.nbytes());
    if (buckets.empty() || buckets.back().buffer.dtype() != value.dtype() || bytes + nbytes > cap) {
      if (!buckets.empty()) buckets.back().buffer = Tensor(buckets.back().buffer.dtype(), {count});
      buckets.emplace_back();
      buckets.back().buffer = Tensor(value.dtype(), {0});
      bytes = count = 0;
    }
    Bucket& b = buckets.back();
    b.parameters.push_back(i);
    b.offsets.push_back(count);
    b.ready_step = static_cast<size_t>(step);
    count += value.numel();
    bytes += nbytes;
  }
  if (!buckets.empty()) buckets.back().buffer = Tensor(buckets.back().buffer.dtype(), {count});
  buckets_ready_at.assign(train_plan->step_count(), {});
  for (size_t b = 0; b < buckets.size(); ++b) buckets_ready_at[buckets[b].ready_step].push_back(b);
  allreduce_stats.buckets = static_cast<int64_t>(buckets.size());
  allreduce_stats.bytes = 0;
  for (const Bucket& b : buckets) allreduce_stats.bytes += static_cast<int64_t>(b.buffer.nbytes());

  // Every rank starts from rank 0's parameters and statistics (a new classifier head is
  // initialised by each rank's generator; rank 0's wins).
  for (Parameter& p : parameters)
    c.broadcast(p.value.raw_data(), static_cast<int64_t>(p.value.nbytes()), 0,
                fmt::format("the broadcast of parameter '{}'", p.name));
  broadcast_buffers();
}

void TrainingSession::Impl::broadcast_buffers() {
  for (Buffer& b : buffers)
    group->broadcast(b.value.raw_data(), static_cast<int64_t>(b.value.nbytes()), 0,
                     fmt::format("the broadcast of running statistic '{}'", b.name));
}

void TrainingSession::Impl::start_bucket(Bucket& b, double weight, bool from_plan) {
  for (size_t k = 0; k < b.parameters.size(); ++k) {
    Parameter& p = parameters[b.parameters[k]];
    const Tensor* g = nullptr;
    if (from_plan) {
      g = &train_plan->output_value(p.grad_output);
      OT_CHECK(g->defined() && g->dtype() == p.value.dtype() && g->shape() == p.value.shape(),
               "{}: the gradient of '{}' is {} but the parameter is {}", source, p.name,
               g->defined() ? g->describe() : "missing", p.value.describe());
    }
    const Tensor* acc = pending > 0 ? &p.accumulated : nullptr;
    visit_parameter_dtype(p.value.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      pack(b.buffer.data<T>() + b.offsets[k], g ? g->data<T>() : nullptr, acc ? acc->data<T>() : nullptr, weight,
           p.value.numel());
    });
  }
  const std::string what = fmt::format("the gradient allreduce of step {}", step + 1);
  b.started = Clock::now();
  b.complete = false;
  visit_parameter_dtype(b.buffer.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    b.request = group->start_allreduce_sum(b.buffer.data<T>(), b.buffer.numel(), what);
  });
}

void TrainingSession::Impl::finish_buckets(double scale, Clock::time_point backward_end) {
  for (Bucket& b : buckets) {
    if (!b.complete) {
      b.request->wait();
      b.done = Clock::now();
      b.complete = true;
    }
    allreduce_stats.total_ms += ms_between(b.started, b.done);
    allreduce_stats.exposed_ms += ms_between(std::max(b.started, backward_end), std::max(b.done, backward_end));
    b.request.reset();
    for (size_t k = 0; k < b.parameters.size(); ++k) {
      const size_t i = b.parameters[k];
      Parameter& p = parameters[i];
      if (!p.accumulated.defined()) p.accumulated = Tensor(p.value.dtype(), p.value.shape());
      visit_parameter_dtype(p.value.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        pack(p.accumulated.data<T>(), b.buffer.data<T>() + b.offsets[k], static_cast<const T*>(nullptr), scale,
             p.value.numel());
      });
      optimizer_params[i].grad = &p.accumulated;
    }
  }
  ++allreduce_stats.steps;
}

StepResult TrainingSession::Impl::train_step_data_parallel(const std::map<std::string, Tensor>& feeds) {
  Impl& s = *this;
  s.last_outputs.clear();
  const double weight = s.micro_batch_weight(feeds);
  // Only the micro-batch that steps communicates gradients (DistributedDataParallel's no_sync
  // for the others): its buckets start as the backward pass computes their last gradient, and
  // every step polls those in flight so that MPI moves them along meanwhile.
  const bool steps_now = s.options.accumulation_steps > 0 && s.pending + 1 >= s.options.accumulation_steps;
  if (steps_now) {
    s.train_plan->set_after_step([&s, weight](size_t k) {
      for (size_t b : s.buckets_ready_at[k]) s.start_bucket(s.buckets[b], weight, /*from_plan=*/true);
      for (Bucket& b : s.buckets) {
        if (b.request && !b.complete && b.request->test()) {
          b.complete = true;
          b.done = Clock::now();
        }
      }
    });
  }
  const Clock::time_point run_start = Clock::now();
  try {
    s.last_outputs = s.train_plan->run(s.feed_vector(feeds, s.inputs, s.overridable_count));
  } catch (...) {
    s.train_plan->set_after_step(nullptr);
    throw;
  }
  s.train_plan->set_after_step(nullptr);
  const Clock::time_point backward_end = Clock::now();
  if (steps_now) s.allreduce_stats.backward_ms += ms_between(run_start, backward_end);

  // Whether this rank's loss and new running statistics are finite; every rank must hear of a
  // failure on any, so that all refuse the step together.
  StepResult result;
  const double loss = scalar_value(s.last_outputs[s.loss_output], s.loss);
  std::string failure;
  if (!std::isfinite(loss)) failure = fmt::format("the loss is {}", loss);
  for (auto& b : s.buffers) {
    std::vector<Tensor*> stat = {&s.last_outputs[b.updated_output]};
    if (failure.empty() && !std::isfinite(gradient_checksum(stat)))
      failure = fmt::format("the running statistic '{}' becomes NaN or Inf", b.name);
  }
  // {w * loss, w, failed ranks, the weight of every micro-batch of this optimizer step}
  double totals[4] = {failure.empty() ? weight * loss : 0.0, weight, failure.empty() ? 0.0 : 1.0,
                      s.pending_weight + weight};
  s.group->allreduce_sum(totals, 4, fmt::format("the loss allreduce of step {}", s.step + 1));
  // The buckets hold the sum over ranks of (accumulated + w * g); the weights of the step's
  // micro-batches on every rank sum to totals[3]. Every bucket completes, even for a step
  // refused below (a collective cannot be left behind).
  const bool average = !(s.options.model_loss.empty() && s.options.loss.reduction == "sum");
  if (steps_now) finish_buckets(average ? 1.0 / totals[3] : 1.0, backward_end);
  if (totals[2] > 0) {
    s.pending = 0;
    s.pending_weight = 0;
    const std::string where = failure.empty()
                                  ? fmt::format("on {} other rank{}", totals[2], totals[2] == 1 ? "" : "s")
                                  : fmt::format("on {}", s.group->describe_rank(s.group->rank()));
    throw NonFiniteStep(fmt::format(
        "{}: {} at step {} {}; nothing was updated on any rank (the parameters are those after step {}). A learning "
        "rate that is too high is the usual cause: lower it, or clip gradients",
        s.source, failure.empty() ? "the loss or a running statistic turns NaN or Inf" : failure, s.step + 1, where,
        s.step));
  }
  // The loss of one batch holding every rank's samples: their weighted mean, or for a "sum"
  // loss (each rank's weight 1) their sum.
  result.loss = average ? totals[0] / totals[1] : totals[0];
  for (size_t i : s.model_outputs) result.outputs.push_back(s.last_outputs[i]);

  if (steps_now) {
    ++s.pending;
    s.pending_weight += weight;
    result.learning_rate = s.run_optimizer(&result.grad_norm, 1.0);
    result.stepped = true;
  } else {
    s.accumulate_plan_gradients(weight);
    ++s.pending;
    s.pending_weight += weight;
  }
  for (auto& b : s.buffers)
    copy_into(b.value, s.last_outputs[b.updated_output], s.source + ": running statistic '" + b.name + "'");
  // Each rank's running statistics come from its own batches (unless synchronised): rank 0's
  // are every rank's, as DistributedDataParallel's broadcast_buffers does before each forward.
  if (!s.options.distributed.sync_batchnorm) s.broadcast_buffers();
  result.step = s.step;
  return result;
}

double TrainingSession::Impl::optimizer_step_data_parallel() {
  // Every rank has the same number of micro-batches pending (the sharded loader gives every rank
  // as many batches), so all take this path together.
  for (Bucket& b : buckets) start_bucket(b, 0.0, /*from_plan=*/false);
  double total_weight = pending_weight;
  group->allreduce_sum(&total_weight, 1, fmt::format("the weight allreduce of step {}", step + 1));
  const Clock::time_point now = Clock::now();
  const bool average = !(options.model_loss.empty() && options.loss.reduction == "sum");
  finish_buckets(average ? 1.0 / total_weight : 1.0, now);
  return run_optimizer(nullptr, 1.0);
}

}  // namespace onnx_train
