// *.csv: a header row, then one sample per row. The label takes the column named like it;
// every other column is a feature, and the features, in order, fill the model's single
// input. Cells are numbers ("..." quoting allowed); several files in a split are
// concatenated and must have the same header.
#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <string_view>

#include "importers/data/array_dataset.h"
#include "importers/data/formats.h"
#include "onnx_train/printable.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// Splits a csv text into records of cells: cells are separated by commas, records by \n or
// \r\n; a cell in double quotes may hold commas, line breaks and "" for a quote.
class CsvReader {
 public:
  CsvReader(std::string_view text, std::string path) : text_(text), path_(std::move(path)) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // spreadsheets' UTF-8 byte order mark
  }

  // The next non-blank record's cells (views into the text, or into this reader for quoted
  // cells with "" in them, valid until the next call); false at the end of the text.
  bool next(std::vector<std::string_view>& cells) {
    do {
      if (pos_ >= text_.size()) return false;
      record_line_ = line_;
      cells.clear();
      unescaped_.clear();
      bool more = true;
      while (more) cells.push_back(read_cell(more));
    } while (cells.size() == 1 && cells[0].empty());
    return true;
  }

  int64_t record_line() const { return record_line_; }

 private:
  // Reads one cell; `more` says whether a comma followed it (rather than the record's end).
  std::string_view read_cell(bool& more) {
    const size_t start = pos_;
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    std::string_view cell;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      cell = read_quoted();
      while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
      OT_CHECK(pos_ >= text_.size() || text_[pos_] == ',' || text_[pos_] == '\n' || text_[pos_] == '\r',
               "{}, line {}: text after a quoted cell's closing quote; quote the whole cell", path_, line_);
    } else {
      pos_ = std::min(text_.find_first_of(",\r\n", pos_), text_.size());
      cell = trim(text_.substr(start, pos_ - start));
    }
    more = pos_ < text_.size() && text_[pos_] == ',';
    if (more) {
      ++pos_;
    } else {
      if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;
    }
    return cell;
  }

  std::string_view read_quoted() {
    const int64_t opened_on = line_;
    const size_t begin = ++pos_;
    bool escaped = false;
    for (;; ++pos_) {
      OT_CHECK(pos_ < text_.size(), "{}, line {}: a quoted cell is not closed (a \" is missing)", path_, opened_on);
      if (text_[pos_] == '\n') ++line_;
      if (text_[pos_] != '"') continue;
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
        escaped = true;
        ++pos_;
        continue;
      }
      break;
    }
    const std::string_view raw = text_.substr(begin, pos_ - begin);
    ++pos_;
    if (!escaped) return raw;
    std::string& s = unescaped_.emplace_back();
    for (size_t i = 0; i < raw.size(); ++i) {
      s += raw[i];
      if (raw[i] == '"') ++i;
    }
    return s;
  }

  std::string_view text_;
  std::string path_;
  size_t pos_ = 0;
  int64_t line_ = 1, record_line_ = 1;
  std::deque<std::string> unescaped_;  // a deque, so views into earlier cells stay valid
};

double parse_number(std::string_view cell, const std::string& path, int64_t line, size_t column,
                    const std::vector<std::string>& header) {
  std::string_view digits = trim(cell);
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  OT_CHECK(!digits.empty() && ec == std::errc() && end == digits.data() + digits.size(),
           "{}, line {}, column {} ('{}'): '{}' is not a number; every cell below the header must be a number "
           "(class labels too)",
           path, line, column + 1, printable_bytes(header[column]), printable_bytes(cell));
  return value;
}

// One file's cells, by field: values[f] holds field f's numbers, one sample after another.
struct CsvFile {
  std::vector<std::string> header;
  std::vector<std::vector<double>> values;
  std::vector<int64_t> lines;  // each sample's line
};

// `feature_field` takes every column that is not a label's.
CsvFile read_csv(const std::string& path, const std::vector<FieldSpec>& wanted, size_t feature_field) {
  const MappedFile file(path);
  CsvReader reader(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
  std::vector<std::string_view> cells;
  OT_CHECK(reader.next(cells), "{}: the file is empty; a csv file needs a header row naming its columns", path);
  CsvFile csv;
  for (auto cell : cells) csv.header.emplace_back(cell);

  // The field each column feeds.
  std::vector<size_t> field_of_column(csv.header.size(), feature_field);
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (!wanted[f].is_label) continue;
    const auto it = std::find(csv.header.begin(), csv.header.end(), wanted[f].name);
    OT_CHECK(it != csv.header.end(), "{}: no column '{}' for the label; the header has {}. Name the label column '{}'",
             path, wanted[f].name, fmt::join(csv.header, ", "), wanted[f].name);
    OT_CHECK(std::find(it + 1, csv.header.end(), wanted[f].name) == csv.header.end(),
             "{}: two columns are named '{}'; rename one", path, wanted[f].name);
    field_of_column[static_cast<size_t>(it - csv.header.begin())] = f;
  }

  csv.values.resize(wanted.size());
  while (reader.next(cells)) {
    const int64_t line = reader.record_line();
    OT_CHECK(cells.size() == csv.header.size(), "{}, line {}: {} cells but the header has {} columns", path, line,
             cells.size(), csv.header.size());
    for (size_t c = 0; c < cells.size(); ++c)
      csv.values[field_of_column[c]].push_back(parse_number(cells[c], path, line, c, csv.header));
    csv.lines.push_back(line);
  }
  return csv;
}

}  // namespace

std::unique_ptr<Dataset> open_csv_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions&) {
  std::vector<std::string> files;
  for (const auto& path : split.files)
    if (fs::path(path).extension() == ".csv") files.push_back(path);
  if (files.empty()) return nullptr;

  std::vector<size_t> inputs;
  for (size_t f = 0; f < wanted.size(); ++f)
    if (!wanted[f].is_label) inputs.push_back(f);
  OT_CHECK(inputs.size() == 1,
           "{}: csv data fills exactly one model input, but the model takes {}; save one .npy file per input instead",
           split.dir, inputs.size());
  const size_t feature_field = inputs[0];

  std::vector<ArrayColumn> columns(wanted.size());
  std::vector<std::shared_ptr<const void>> storage;
  std::vector<std::string> first_header;
  for (const auto& path : files) {
    CsvFile csv = read_csv(path, wanted, feature_field);
    if (path == files[0]) first_header = csv.header;
    OT_CHECK(csv.header == first_header,
             "{}: the header ({}) differs from {}'s ({}); every csv file of a split needs the same columns", path,
             fmt::join(csv.header, ", "), files[0], fmt::join(first_header, ", "));
    const int64_t features = static_cast<int64_t>(csv.header.size()) - static_cast<int64_t>(wanted.size()) + 1;
    for (size_t f = 0; f < wanted.size(); ++f) {
      auto values = std::make_shared<std::vector<double>>(std::move(csv.values[f]));
      columns[f].dtype = DType::Float64;
      columns[f].sample_shape = f == feature_field ? Shape{features} : Shape{};
      columns[f].chunks.push_back(
          {path, reinterpret_cast<const uint8_t*>(values->data()), static_cast<int64_t>(csv.lines.size()), csv.lines});
      storage.push_back(std::move(values));
    }
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), list_paths(files),
                                        "csv");
}

}  // namespace onnx_train
