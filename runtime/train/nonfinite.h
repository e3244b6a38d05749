// Finding where a training step's values first turn NaN or Inf: a Plan step check
// (runtime/exec/plan.h) that looks at every node's float outputs as they are made and stops
// the run at the first non-finite one, with the node, its pass and its inputs' ranges
// (NonFiniteTrace, onnx_train/training_session.h).
#pragma once

#include <map>
#include <set>
#include <string>

#include "onnx_train/training_session.h"
#include "runtime/exec/plan.h"

namespace onnx_train {

// What the check throws to stop the run; its trace is in the NonFiniteTrace the check was given.
struct NonFiniteFound {};

// Counts and finite range of `t` (any dtype; only float tensors can hold NaN or Inf).
NonFiniteValue summarize_value(const std::string& name, const Tensor& t);

// The graph a check runs on: which nodes are forward (by first output) and which forward node
// each backward node differentiates (GradientGraph::rule_of).
struct TraceContext {
  const std::set<std::string>* forward_outputs = nullptr;
  const std::map<std::string, std::string>* rule_of = nullptr;
};

// A step check that fills `*trace` and throws NonFiniteFound at the first node with a
// non-finite output. `trace` and the context's maps outlive the plan's runs with it.
Plan::StepCheck nonfinite_check(TraceContext context, NonFiniteTrace* trace);

}  // namespace onnx_train
