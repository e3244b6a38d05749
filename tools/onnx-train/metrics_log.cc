// tools/onnx-train/metrics_log.cc: the JSON Lines metrics log (metrics_log.h).
#include "tools/onnx-train/metrics_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "onnx_train/error.h"

namespace onnx_train::cli {

namespace {

// The length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing past U+10FFFF), or 0 if there is none.
size_t utf8_sequence_length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned b0 = byte(i);
  size_t length;
  unsigned low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong below U+0800
    if (b0 == 0xED) high = 0x9F;  // the surrogates U+D800..U+DFFF
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong below U+10000
    if (b0 == 0xF4) high = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return length;
}

}  // namespace

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else if (const size_t length = utf8_sequence_length(text, i)) {
          out.append(text, i, length);
          i += length;
          continue;
        } else {
          out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per stray byte
        }
    }
    ++i;
  }
  return out + "\"";
}

// fmt's "{}" is the shortest text that parses back to the same double ("0.001", "1e-05", "3"),
// and all of its finite forms are valid JSON numbers.
std::string json_number(double value) { return std::isfinite(value) ? fmt::format("{}", value) : "null"; }

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  file_.reset(std::fopen(path.c_str(), append ? "a+b" : "wb"));
  OT_CHECK(file_ != nullptr,
           "metrics log {}: cannot open it for writing ({}); check that its folder exists and is writable", path,
           std::strerror(errno));
  if (!append || std::fseek(file_.get(), -1, SEEK_END) != 0) return;  // an empty file cannot seek to -1
  const int last = std::fgetc(file_.get());
  std::fseek(file_.get(), 0, SEEK_END);  // C requires a seek between reading and writing
  if (last != EOF && last != '\n') write_line("");
}

void MetricsLog::log_step(int64_t step, int64_t epoch, double loss, double lr, const LogFields& extra) {
  std::string line = fmt::format("{{\"step\": {}, \"epoch\": {}, \"loss\": {}, \"lr\": {}", step, epoch,
                                 json_number(loss), json_number(lr));
  for (const auto& [name, value] : extra) {
    for (const char* taken : {"step", "epoch", "loss", "lr"})
      OT_CHECK(name != taken, "metrics log {}: an extra step metric is named '{}', which every step line has already",
               path_, name);
    line += fmt::format(", {}: {}", json_string(name), value.json());
  }
  write_line(line + "}");
}

void MetricsLog::log_validation(int64_t step, int64_t epoch, double val_loss, std::optional<double> val_accuracy) {
  std::string line = fmt::format("{{\"step\": {}, \"epoch\": {}, \"val_loss\": {}", step, epoch, json_number(val_loss));
  if (val_accuracy) line += fmt::format(", \"val_accuracy\": {}", json_number(*val_accuracy));
  write_line(line + "}");
}

void MetricsLog::log_event(const std::string& event, const LogFields& fields) {
  std::string line = "{\"event\": " + json_string(event);
  for (const auto& [name, value] : fields) {
    OT_CHECK(name != "event", "metrics log {}: event '{}' has a field named 'event', which names the event itself",
             path_, event);
    line += fmt::format(", {}: {}", json_string(name), value.json());
  }
  write_line(line + "}");
}

void MetricsLog::write_line(const std::string& line) {
  const std::string text = line + "\n";
  const bool written = std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size();
  // Flushed line by line: what a crash leaves behind is whole lines.
  OT_CHECK(written && std::fflush(file_.get()) == 0, "metrics log {}: cannot write to it ({})", path_,
           std::strerror(errno));
}

}  // namespace onnx_train::cli
