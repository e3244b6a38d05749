#include "tests/support/onnx_test_case.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "onnx_train/session.h"

namespace onnx_train::testing {

namespace fs = std::filesystem;

namespace {

std::string compare_values(const std::vector<double>& e, const std::vector<double>& a, bool exact,
                           const Tolerance& tol) {
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    bool ok;
    if (std::isnan(e[i]) || std::isnan(a[i]))
      ok = std::isnan(e[i]) && std::isnan(a[i]);
    else if (std::isinf(e[i]) || std::isinf(a[i]))
      ok = e[i] == a[i];
    else
      ok = exact ? e[i] == a[i] : std::abs(e[i] - a[i]) <= tol.atol + tol.rtol * std::abs(e[i]);
    if (!ok) {
      if (bad++ == 0) first = i;
      if (!std::isnan(e[i]) && !std::isnan(a[i])) worst = std::max(worst, std::abs(e[i] - a[i]));
    }
  }
  if (bad == 0) return "";
  return fmt::format("{} of {} values differ (largest difference {:g}); first at flat index {}: expected {}, got {}",
                     bad, e.size(), worst, first, e[first], a[first]);
}

}  // namespace

std::string compare_tensors(const Tensor& expected, const Tensor& actual, const Tolerance& tol) {
  if (expected.dtype() != actual.dtype())
    return fmt::format("expected {}, got {}", expected.describe(), actual.describe());
  if (expected.shape() != actual.shape())
    return fmt::format("expected shape {}, got {}", shape_str(expected.shape()), shape_str(actual.shape()));
  return compare_values(expected.to_doubles(), actual.to_doubles(), !dtype_is_float(expected.dtype()), tol);
}

std::vector<std::string> numbered_files(const std::string& dir, const std::string& prefix) {
  std::vector<std::pair<int, std::string>> files;
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && f.path().extension() == ".pb")
      files.emplace_back(std::stoi(name.substr(prefix.size())), f.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& [i, f] : files) out.push_back(f);
  return out;
}

namespace {

// Bit patterns of a bfloat16 tensor as uint16 (and back), for ONNX's uint16 storage.
Tensor reinterpret(const Tensor& t, DType dtype) {
  Tensor out(dtype, t.shape());
  std::memcpy(out.raw_data(), t.raw_data(), t.nbytes());
  return out;
}

// Why `t` cannot be fed as `spec`, or "".
std::string contradicts(const TensorSpec& spec, const Tensor& t) {
  if (!spec.rank_known) return "";
  bool bad = t.rank() != static_cast<int>(spec.shape.size());
  for (size_t d = 0; !bad && d < spec.shape.size(); ++d) bad = spec.shape[d] >= 0 && spec.shape[d] != t.shape()[d];
  return bad ? fmt::format("the test data's input '{}' is {} but the model declares {}", spec.name, t.describe(),
                           spec.describe())
             : "";
}

}  // namespace

CaseResult run_test_case(const std::string& dir, const Tolerance& tol) {
  using Status = CaseResult::Status;
  try {
    Session session = Session::from_file(dir + "/model.onnx");
    int sets = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_directory() || entry.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
      ++sets;
      std::map<std::string, Tensor> feeds;
      const auto inputs = numbered_files(entry.path().string(), "input_");
      for (size_t i = 0; i < inputs.size(); ++i) {
        std::string name;
        Tensor t = read_tensor_file(inputs[i], &name);
        const TensorSpec* spec = nullptr;
        for (const auto& s : session.inputs())
          if (s.name == name) spec = &s;
        for (const auto& s : session.overridable_initializers())
          if (s.name == name) spec = &s;
        if (spec == nullptr) {
          // Unnamed test inputs feed the model's inputs in order.
          if (i >= session.inputs().size())
            return {Status::Failed, fmt::format("{}: more inputs than the model has", inputs[i])};
          spec = &session.inputs()[i];
        }
        if (spec->dtype == DType::BFloat16 && t.dtype() == DType::UInt16) t = reinterpret(t, DType::BFloat16);
        const std::string why = contradicts(*spec, t);
        if (!why.empty()) return {Status::Skipped, why};
        feeds[spec->name] = t;
      }
      const auto outputs = session.run(feeds);
      const auto expected = numbered_files(entry.path().string(), "output_");
      if (expected.size() != outputs.size())
        return {Status::Failed, fmt::format("{} outputs expected, the model has {}", expected.size(), outputs.size())};
      for (size_t i = 0; i < expected.size(); ++i) {
        Tensor want = read_tensor_file(expected[i]);
        Tensor got = outputs[i];
        std::string diff;
        if (want.dtype() == DType::UInt16 && got.dtype() == DType::BFloat16) {
          // Bit patterns compared as numbers with the usual tolerance, as ONNX's runner does.
          diff = want.shape() != got.shape()
                     ? fmt::format("expected shape {}, got {}", shape_str(want.shape()), shape_str(got.shape()))
                     : compare_values(want.to_doubles(), reinterpret(got, DType::UInt16).to_doubles(), false, tol);
        } else {
          diff = compare_tensors(want, got, tol);
        }
        if (!diff.empty())
          return {Status::Failed, fmt::format("{} output {} ('{}'): {}", entry.path().filename().string(), i,
                                              session.outputs()[i].name, diff)};
      }
    }
    if (sets == 0) return {Status::Failed, "no test_data_set_* folder"};
    return {};
  } catch (const std::exception& e) {
    return {Status::Failed, e.what()};
  }
}

std::vector<Tensor> feeds_for(const Graph& graph, const std::map<std::string, Tensor>& values) {
  std::vector<Tensor> feeds;
  for (const ValueInfo& v : graph.inputs) {
    const auto it = values.find(v.name);
    OT_CHECK(it != values.end(), "no tensor given for graph input '{}'", v.name);
    feeds.push_back(it->second);
  }
  feeds.resize(feeds.size() + graph.overridable_initializers.size());  // keep the stored values
  return feeds;
}

size_t output_index(const Graph& graph, const std::string& name) {
  for (size_t i = 0; i < graph.outputs.size(); ++i)
    if (graph.outputs[i].name == name) return i;
  OT_FAIL("'{}' is not a graph output", name);
}

double max_abs_difference(const Tensor& expected, const Tensor& actual) {
  if (expected.shape() != actual.shape()) return std::nan("");
  const std::vector<double> e = expected.to_doubles(), a = actual.to_doubles();
  double worst = 0;
  for (size_t i = 0; i < e.size(); ++i) worst = std::max(worst, std::abs(e[i] - a[i]));
  return worst;
}

}  // namespace onnx_train::testing
