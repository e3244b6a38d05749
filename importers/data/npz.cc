// *.npz: a zip archive of NAME.npy members (numpy.savez / savez_compressed). The central
// directory is read here (ZIP64 included, for archives over 4 GB); stored members are
// read in place from the mapped archive, deflated ones are inflated into memory once.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <new>

#include "importers/data/array_npy.h"
#include "importers/data/formats.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

// Record signatures and sizes (PKWARE APPNOTE 4.3).
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr size_t kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56, kCentralSize = 46, kLocalSize = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint32_t kMax32 = 0xFFFFFFFF;
// Deflate cannot compress better than about 1032:1; a larger recorded size is corruption.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct ZipMember {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

// Bounds-checked reads of the mapped archive; every failure is "corrupt" naming the file.
class ZipReader {
 public:
  explicit ZipReader(const MappedFile& file) : file_(file) {}

  std::vector<ZipMember> members() const {
    const size_t end = find_end_record();
    uint64_t count = read(end + 10, 2), dir_size = read(end + 12, 4), dir_offset = read(end + 16, 4);
    check(read(end + 4, 2) == 0 && read(end + 6, 2) == 0, "it spans several disks");
    if (count == 0xFFFF || dir_size == kMax32 || dir_offset == kMax32) {
      check(end >= kZip64LocatorSize && read(end - kZip64LocatorSize, 4) == kZip64EndLocator,
            "ZIP64 sizes without a ZIP64 end locator");
      const uint64_t record = read(end - kZip64LocatorSize + 8, 8);
      check(record <= file_.size() - kZip64EndSize && read(record, 4) == kZip64End, "the ZIP64 end record is missing");
      count = read(record + 32, 8);
      dir_size = read(record + 40, 8);
      dir_offset = read(record + 48, 8);
    }
    check(dir_offset <= file_.size() && dir_size <= file_.size() - dir_offset,
          "the central directory lies outside the file");
    std::vector<ZipMember> members;
    uint64_t pos = dir_offset;
    for (uint64_t i = 0; i < count; ++i) {
      check(pos + kCentralSize <= dir_offset + dir_size && read(pos, 4) == kCentralHeader,
            "a central directory entry is damaged");
      ZipMember m;
      m.flags = static_cast<uint16_t>(read(pos + 8, 2));
      m.method = static_cast<uint16_t>(read(pos + 10, 2));
      m.crc = static_cast<uint32_t>(read(pos + 16, 4));
      m.compressed = read(pos + 20, 4);
      m.size = read(pos + 24, 4);
      m.local_offset = read(pos + 42, 4);
      const uint64_t name_size = read(pos + 28, 2), extra_size = read(pos + 30, 2), comment_size = read(pos + 32, 2);
      const uint64_t next = pos + kCentralSize + name_size + extra_size + comment_size;
      check(next <= dir_offset + dir_size, "a central directory entry is damaged");
      m.name.assign(reinterpret_cast<const char*>(file_.data() + pos + kCentralSize), name_size);
      read_zip64_extra(pos + kCentralSize + name_size, extra_size, m);
      members.push_back(std::move(m));
      pos = next;
    }
    return members;
  }

  // The member's bytes as stored (compressed or not), after its local header.
  const uint8_t* stored_bytes(const ZipMember& m) const {
    check(m.local_offset <= file_.size() - kLocalSize && read(m.local_offset, 4) == kLocalHeader,
          fmt::format("member {} has no local header", m.name));
    const uint64_t start = m.local_offset + kLocalSize + read(m.local_offset + 26, 2) + read(m.local_offset + 28, 2);
    check(start <= file_.size() && m.compressed <= file_.size() - start,
          fmt::format("member {} ends beyond the file (truncated?)", m.name));
    return file_.data() + start;
  }

  void check(bool ok, const std::string& problem) const {
    OT_CHECK(ok, "{}: not a valid .npz (zip) archive: {}; save it again with numpy.savez", file_.path(), problem);
  }

 private:
  uint64_t read(uint64_t offset, int bytes) const {
    check(offset <= file_.size() && static_cast<uint64_t>(bytes) <= file_.size() - offset, "a record is cut off");
    return read_little_endian(file_.data() + offset, bytes);
  }

  // The end of central directory record is the last thing in the file, before a comment of
  // at most 64 KB.
  size_t find_end_record() const {
    check(file_.size() >= kEndSize, "the file is too short to be a zip archive");
    const size_t lowest = file_.size() > kEndSize + 0xFFFF ? file_.size() - kEndSize - 0xFFFF : 0;
    for (size_t pos = file_.size() - kEndSize + 1; pos-- > lowest;)
      if (read_little_endian(file_.data() + pos, 4) == kEndOfCentralDirectory) return pos;
    check(false, "it has no end of central directory record");
    return 0;
  }

  // ZIP64 extra field: 64-bit values for exactly those of size, compressed size and offset
  // (in that order) whose 32-bit fields hold 0xFFFFFFFF.
  void read_zip64_extra(uint64_t pos, uint64_t size, ZipMember& m) const {
    const uint64_t end = pos + size;
    while (pos + 4 <= end) {
      const uint64_t id = read(pos, 2), data_size = read(pos + 2, 2);
      check(pos + 4 + data_size <= end, fmt::format("member {} has a damaged extra field", m.name));
      if (id == kZip64ExtraId) {
        uint64_t at = pos + 4;
        for (uint64_t* value : {&m.size, &m.compressed, &m.local_offset}) {
          if (*value != kMax32) continue;
          check(at + 8 <= pos + 4 + data_size, fmt::format("member {} has a short ZIP64 extra field", m.name));
          *value = read(at, 8);
          at += 8;
        }
      }
      pos += 4 + data_size;
    }
  }

  const MappedFile& file_;
};

std::shared_ptr<std::vector<uint8_t>> inflate_member(const ZipReader& zip, const ZipMember& m, const uint8_t* in,
                                                     const std::string& path) {
  zip.check(m.size / kMaxDeflateRatio <= m.compressed, fmt::format("member {} records an impossible size", m.name));
  auto out = std::make_shared<std::vector<uint8_t>>();
  try {
    out->resize(m.size);
  } catch (const std::bad_alloc&) {
    OT_FAIL(
        "{}: member {} needs {} bytes of memory to decompress; save the data with numpy.savez (not "
        "savez_compressed) so that it is read in place",
        path, m.name, m.size);
  }
  z_stream zs{};
  zip.check(inflateInit2(&zs, -MAX_WBITS) == Z_OK, "zlib cannot start");
  uint64_t in_left = m.compressed, out_left = m.size;
  int status = Z_OK;
  zs.next_in = const_cast<Bytef*>(in);
  zs.next_out = out->data();
  while (status == Z_OK) {
    // zlib counts in uInt; feed members over 4 GB in pieces.
    const uInt in_step = static_cast<uInt>(std::min<uint64_t>(in_left, UINT_MAX));
    const uInt out_step = static_cast<uInt>(std::min<uint64_t>(out_left, UINT_MAX));
    zs.avail_in = in_step;
    zs.avail_out = out_step;
    status = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_step - zs.avail_in;
    out_left -= out_step - zs.avail_out;
    if (status == Z_BUF_ERROR && in_step - zs.avail_in == 0 && out_step - zs.avail_out == 0) break;
    if (status == Z_BUF_ERROR) status = Z_OK;
  }
  inflateEnd(&zs);
  zip.check(status == Z_STREAM_END && out_left == 0,
            fmt::format("member {} does not inflate to its recorded {} bytes", m.name, m.size));
  zip.check(crc32_z(0, out->data(), out->size()) == m.crc, fmt::format("member {} fails its CRC check", m.name));
  return out;
}

}  // namespace

std::unique_ptr<Dataset> open_npz_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions&) {
  std::vector<std::string> archives;
  for (const auto& path : split.files)
    if (fs::path(path).extension() == ".npz") archives.push_back(path);
  if (archives.empty()) return nullptr;
  OT_CHECK(archives.size() == 1,
           "{}: {} .npz archives ({}); a split takes exactly one: save all arrays in one numpy.savez call, or move "
           "the others out",
           split.dir, archives.size(), list_paths(archives));

  auto file = std::make_shared<MappedFile>(archives[0]);
  const ZipReader zip(*file);
  const std::vector<ZipMember> members = zip.members();
  std::vector<std::string> arrays;
  for (const auto& m : members) arrays.push_back(fs::path(m.name).stem().string());

  std::vector<ArrayColumn> columns;
  std::vector<std::shared_ptr<const void>> storage = {file};
  for (const auto& field : wanted) {
    const std::string member_name = field.name + ".npy";
    const auto m =
        std::find_if(members.begin(), members.end(), [&](const ZipMember& z) { return z.name == member_name; });
    OT_CHECK(m != members.end(),
             "{}: no array '{}' for {} '{}'; the archive holds {}. Save it with numpy.savez(path, {}=array, ...)",
             file->path(), field.name, field.is_label ? "the label" : "the model input", field.name,
             arrays.empty() ? "nothing" : list_paths(arrays), field.name);
    OT_CHECK(!(m->flags & 1), "{}: member {} is encrypted; save the archive without a password", file->path(), m->name);
    const std::string where = fmt::format("{}: {}", file->path(), m->name);
    const uint8_t* bytes = zip.stored_bytes(*m);
    if (m->method == Z_DEFLATED) {
      auto inflated = inflate_member(zip, *m, bytes, file->path());
      columns.push_back(npy_column(parse_npy(inflated->data(), inflated->size(), where), where));
      storage.push_back(std::move(inflated));
    } else {
      OT_CHECK(m->method == 0, "{}: compression method {} is not supported (numpy writes stored or deflated members)",
               where, m->method);
      zip.check(m->compressed == m->size, fmt::format("stored member {} has two different sizes", m->name));
      columns.push_back(npy_column(parse_npy(bytes, m->size, where), where));
    }
  }
  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), file->path(), "npz");
}

}  // namespace onnx_train
