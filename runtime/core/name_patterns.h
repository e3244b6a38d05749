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
  // `what` names the option in the error for an invalid pattern ("--freeze").
  NamePatterns(const std::vector<std::string>& patterns, const std::string& what) {
    for (const auto& pattern : patterns) {
      try {
        regexes_.emplace_back(pattern);
      } catch (const std::regex_error& e) {
        OT_FAIL("{} pattern '{}' is not a valid regular expression: {}", what, pattern, e.what());
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
