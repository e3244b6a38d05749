// Selecting names (parameters to freeze, to exempt from weight decay) with regular
// expressions given by the user.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "onnx_train/error.h"

namespace onnx_train {

class NamePatterns {
 public:
  // `option` names the option the patterns come from, as the API spells it ("freeze",
  // "train_only"): an invalid pattern throws OptionError(option, "pattern '...' is not a valid
  // regular expression: ..."), which a front end can reword in terms of its own flag.
  NamePatterns(const std::vector<std::string>& patterns, const std::string& option) {
    for (const auto& pattern : patterns) {
      try {
        regexes_.emplace_back(pattern);
      } catch (const std::regex_error& e) {
        throw OptionError(option, fmt::format("pattern '{}' is not a valid regular expression: {}", pattern, e.what()));
      }
    }
  }

  // Whether any pattern matches part of `name` (std::regex_search).
  bool matches(const std::string& name) const {
    for (const auto& re : regexes_) {
      if (std::regex_search(name, re)) return true;
    }
    return false;
  }

 private:
  std::vector<std::regex> regexes_;
};

}  // namespace onnx_train
