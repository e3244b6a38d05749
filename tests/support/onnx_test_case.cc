#include "tests/support/onnx_test_case.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "onnx_train/session.h"

namespace onnx_train::testing {

namespace fs = std::filesystem;

std::string compare_tensors(const Tensor& expected, const Tensor& actual, const Tolerance& tol) {
  if (expected.dtype() != actual.dtype())
    return fmt::format("expected {}, got {}", expected.describe(), actual.describe());
  if (expected.shape() != actual.shape())
    return fmt::format("expected shape {}, got {}", shape_str(expected.shape()), shape_str(actual.shape()));
  const auto e = expected.to_doubles();
  const auto a = actual.to_doubles();
  const bool exact = !dtype_is_float(expected.dtype());
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    bool ok;
    if (std::isnan(e[i]) || std::isnan(a[i])) ok = std::isnan(e[i]) && std::isnan(a[i]);
    else if (std::isinf(e[i]) || std::isinf(a[i])) ok = e[i] == a[i];
    else ok = exact ? e[i] == a[i] : std::abs(e[i] - a[i]) <= tol.atol + tol.rtol * std::abs(e[i]);
    if (!ok) {
      if (bad++ == 0) first = i;
      if (!std::isnan(e[i]) && !std::isnan(a[i])) worst = std::max(worst, std::abs(e[i] - a[i]));
    }
  }
  if (bad == 0) return "";
  return fmt::format("{} of {} values differ (largest difference {:g}); first at flat index {}: expected {}, got {}",
                     bad, e.size(), worst, first, e[first], a[first]);
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

std::string run_test_case(const std::string& dir, const Tolerance& tol) {
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
        bool by_name = false;
        for (const auto& s : session.inputs()) by_name |= s.name == name;
        for (const auto& s : session.overridable_initializers()) by_name |= s.name == name;
        if (!by_name) {
          // Unnamed test inputs feed the model's inputs in order.
          if (i >= session.inputs().size()) return fmt::format("{}: more inputs than the model has", inputs[i]);
          name = session.inputs()[i].name;
        }
        feeds[name] = t;
      }
      const auto outputs = session.run(feeds);
      const auto expected = numbered_files(entry.path().string(), "output_");
      if (expected.size() != outputs.size())
        return fmt::format("{} outputs expected, the model has {}", expected.size(), outputs.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        const std::string diff = compare_tensors(read_tensor_file(expected[i]), outputs[i], tol);
        if (!diff.empty())
          return fmt::format("{} output {} ('{}'): {}", entry.path().filename().string(), i,
                             session.outputs()[i].name, diff);
      }
    }
    if (sets == 0) return "no test_data_set_* folder";
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace onnx_train::testing
