#include "format/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <capnp/serialize-packed.h>
#include <kj/exception.h>
#include <lz4.h>

#include "common/error.h"
#include "format/capture.capnp.h"
#include "format/kind_table.h"
#include "format/reader_impl.h"
#include "format/schema_util.h"

namespace ebt::format {
namespace {

std::string version_text(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace

std::string reason(const Damage& d) {
  auto with = [&](const char* what) { return d.detail.empty() ? std::string(what) : what + (": " + d.detail); };
  switch (d.kind) {
    case DamageKind::kTruncatedHeader:
      return "capture ends inside a block header (recorder stopped before finishing)";
    case DamageKind::kTruncatedBlock:
      return "capture ends inside this block (" + d.detail + "; recorder stopped before finishing)";
    case DamageKind::kBadBlockHeader: return d.detail + "; skipped to the next valid block";
    case DamageKind::kIndexUnusable: return "index unusable (" + d.detail + "); blocks found by scanning instead";
    case DamageKind::kIndexMismatch: return d.detail.empty() ? "block header disagrees with the index" : d.detail;
    case DamageKind::kChecksum: return "payload checksum mismatch";
    case DamageKind::kDecompression: return "LZ4 decompression failed";
    case DamageKind::kUndecodableRecords: return with("undecodable records");
    case DamageKind::kUndecodableSession: return with("undecodable session record");
    case DamageKind::kSchemaUnusable: return with("embedded schema unusable");
  }
  return d.detail;
}

std::string describe(const Damage& d) {
  std::string s;
  if (d.block >= 0) s += "block " + std::to_string(d.block) + " ";
  s += "at offset " + std::to_string(d.offset) + ": " + reason(d);
  s += " (" + std::to_string(d.bytes) + " bytes";
  if (d.records_lost) s += ", " + std::to_string(d.records_lost) + " records lost";
  s += ")";
  return s;
}

capnp::ReaderOptions reader_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = disk::kMaxRawBlockBytes / 8 * 2;
  o.nestingLimit = 32;
  return o;
}

kj::ArrayInputStream& FrameMessage::charge(const uint8_t* data, size_t len, DecodeBudget& budget) {
  uint64_t words = 0;
  try {
    kj::ArrayInputStream peek(kj::arrayPtr(data, len));
    capnp::_::PackedInputStream unpacked(peek);
    uint32_t first[2] = {0, 0};
    if (unpacked.tryRead(first, 8, 8) == 8) {
      uint64_t count = uint64_t{first[0]} + 1;
      words = first[1];
      if (count > 1 && count <= 512) {
        uint32_t rest[512];
        size_t bytes = (count / 2) * 8;  // the other sizes, padded to a word
        if (unpacked.tryRead(rest, bytes, bytes) == bytes)
          for (uint64_t i = 0; i + 1 < count; ++i) words += rest[i];
      }
    }
  } catch (const kj::Exception&) {
    // Malformed: the message reader below says how.
  }
  words += limits::kMessageOverheadWords;
  for (DecodeBudget* b = &budget; b; b = b->pass)
    if (words > b->words)
      throw CorruptRecord(std::string("decode budget exhausted: messages decoded in ") + b->what + " exceed " +
                     std::to_string(b->total * 8 >> 20) + " MiB (limit, docs/format.md section 7)");
  for (DecodeBudget* b = &budget; b; b = b->pass) b->words -= words;
  return in_;
}

bool FrameMessage::equals_flat(const std::vector<uint8_t>& flat) const {
  const size_t n = segments_.size();
  const size_t table = (n / 2 + 1) * 8;
  if (n == 0 || flat.size() < table || disk::get32(flat.data()) != n - 1) return false;
  size_t at = table;
  for (size_t i = 0; i < n; ++i) {
    auto seg = segments_[i].asBytes();
    if (disk::get32(flat.data() + 4 + 4 * i) != seg.size() / 8 || flat.size() - at < seg.size() ||
        std::memcmp(flat.data() + at, seg.begin(), seg.size()) != 0)
      return false;
    at += seg.size();
  }
  return at == flat.size();
}

CaptureReader::Impl::Impl(const std::string& path) : path_(path) {
  open_file();
  open_rest();
}

CaptureReader::Impl::Impl(const std::string& name, const uint8_t* data, size_t size) : path_(name) {
  if (size == 0) throw BadInput(path_ + ": empty file");
  base_ = data;
  size_ = size;
  borrowed_ = true;
  open_rest();
}

void CaptureReader::Impl::open_rest() {
  check_header();
  if (!load_index()) scan();
  load_session();
}

CaptureReader::Impl::~Impl() {
  if (base_ && !borrowed_) ::munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void CaptureReader::Impl::open_file() {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    if (e == ENOENT) throw BadInput(path_ + ": no such file");
    throw BadInput(path_ + ": cannot open: " + std::strerror(e));
  }
  struct stat st{};
  if (::fstat(fd_, &st) != 0) throw BadInput(path_ + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw BadInput(path_ + ": not a regular file");
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) throw BadInput(path_ + ": empty file");
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (p == MAP_FAILED) throw BadInput(path_ + ": cannot map: " + std::strerror(errno));
  base_ = static_cast<const uint8_t*>(p);
}

void CaptureReader::Impl::check_header() {
  size_t n = std::min(size_, sizeof disk::kFileMagic);
  if (std::memcmp(base_, disk::kFileMagic, n) != 0)
    throw BadInput(path_ + ": not an ebtrace capture (bad magic)");
  if (size_ < disk::kFileHeaderBytes)
    throw BadInput(path_ + ": truncated capture (" + std::to_string(size_) + " bytes, header incomplete)");
  header_.major = disk::get16(base_ + 8);
  header_.minor = disk::get16(base_ + 10);
  header_.header_bytes = disk::get32(base_ + 12);
  header_.flags = disk::get64(base_ + 16);
  if (header_.major > disk::kMajor)
    throw BadInput(path_ + ": capture format version " + version_text(header_.major, header_.minor) +
                   " is newer than this ebtrace supports (" + std::to_string(disk::kMajor) + ".x)");
  if (header_.major < 1)
    throw BadInput(path_ + ": unsupported capture format version " + version_text(header_.major, header_.minor));
  if (disk::get32(base_ + 28) != disk::crc32(base_, 28))
    throw BadInput(path_ + ": corrupt capture header (checksum mismatch)");
  if (header_.header_bytes < disk::kFileHeaderBytes || header_.header_bytes > size_)
    throw BadInput(path_ + ": corrupt capture header (header size " + std::to_string(header_.header_bytes) + ")");
}

void CaptureReader::Impl::add_damage(const BlockRef* b, Damage d) const {
  uint64_t key = b ? b->offset : d.offset;
  if (!damaged_offsets_.insert(key).second) return;
  damage_.push_back(std::move(d));
}

void CaptureReader::Impl::add_block(uint64_t offset, const disk::BlockHeader& h) {
  if (h.type == disk::kSchemaBlock) {
    if (!schema_block_) schema_block_ = BlockRef{offset, h};
  } else if (h.type == disk::kDataBlock) {
    data_blocks_.push_back(BlockRef{offset, h});
    BlockInfo info;
    info.offset = offset;
    info.compressed_bytes = h.stored_bytes;
    info.uncompressed_bytes = h.raw_bytes;
    info.records = h.records;
    info.first_time_ns = h.first_time_ns;
    info.last_time_ns = h.last_time_ns;
    info.sequence = h.sequence;
    info.kind_mask = h.kind_mask;
    infos_.push_back(info);
  }
  // Index blocks found while scanning are ignored: the scan is the index.
}

bool CaptureReader::Impl::load_index() {
  const size_t hb = header_.header_bytes;
  if (size_ < hb + disk::kBlockHeaderBytes + disk::kTrailerBytes) return false;
  auto trailer = disk::decode_trailer(base_ + size_ - disk::kTrailerBytes);
  if (!trailer) return false;
  const uint64_t index_end = size_ - disk::kTrailerBytes;
  auto unusable = [&](const std::string& why) {
    add_damage(nullptr, Damage{DamageKind::kIndexUnusable, trailer->index_offset, -1, trailer->index_bytes, 0, why});
    return false;
  };
  // Written so that no sum can wrap around 2^64 (both fields are untrusted).
  if (trailer->index_offset < hb || trailer->index_offset > index_end ||
      trailer->index_bytes != index_end - trailer->index_offset || trailer->index_bytes < disk::kBlockHeaderBytes)
    return unusable("trailer points outside the file");
  std::string why;
  auto h = disk::decode_block_header(base_ + trailer->index_offset, &why);
  if (!h) return unusable(why);
  if (h->type != disk::kIndexBlock || disk::kBlockHeaderBytes + h->stored_bytes != trailer->index_bytes)
    return unusable("trailer does not point at an index block");
  BlockRef ib{trailer->index_offset, *h};
  std::vector<uint8_t> payload;
  std::vector<BlockRef> found;
  try {
    if (disk::crc32(base_ + ib.offset + disk::kBlockHeaderBytes, h->stored_bytes) != h->payload_crc)
      return unusable("checksum mismatch");
    if (!load_payload(ib, payload)) return unusable("cannot decompress");
    if (payload.size() < disk::kFrameBytes) return unusable("empty");
    uint32_t len = disk::get32(payload.data() + 4);
    if (len > payload.size() - disk::kFrameBytes) return unusable("bad frame");
    DecodeBudget budget(size_);
    FrameMessage msg(payload.data() + disk::kFrameBytes, len, budget);
    auto entries = msg.get().getRoot<wire::Index>().getBlocks();
    uint64_t prev_end = hb;
    for (auto e : entries) {
      uint64_t off = e.getOffset();
      // No sum before the range check: an offset near 2^64 must not wrap.
      if (off < prev_end || off > trailer->index_offset ||
          trailer->index_offset - off < disk::kBlockHeaderBytes + uint64_t{e.getStoredBytes()})
        return unusable("entries out of order or out of range");
      uint64_t end = off + disk::kBlockHeaderBytes + uint64_t{e.getStoredBytes()};
      prev_end = end;
      auto bh = disk::decode_block_header(base_ + off, &why);
      if (!bh || bh->sequence != e.getSequence() || bh->stored_bytes != e.getStoredBytes() ||
          bh->type != e.getType()) {
        add_damage(nullptr, Damage{DamageKind::kIndexMismatch, off, static_cast<int64_t>(e.getSequence()), end - off,
                                   e.getRecords(), bh ? "" : why});
        continue;
      }
      found.push_back(BlockRef{off, *bh});
    }
  } catch (const kj::Exception& e) {
    return unusable(e.getDescription().cStr());
  } catch (const CorruptRecord& e) {
    return unusable(e.what());
  }
  for (const auto& b : found) add_block(b.offset, b.header);
  has_index_ = true;
  return true;
}

void CaptureReader::Impl::scan() {
  uint64_t pos = header_.header_bytes;
  uint64_t end = size_;
  if (size_ >= pos + disk::kTrailerBytes && disk::decode_trailer(base_ + size_ - disk::kTrailerBytes))
    end = size_ - disk::kTrailerBytes;
  int64_t next_seq = 0;
  while (pos < end) {
    if (end - pos < disk::kBlockHeaderBytes) {
      add_damage(nullptr, Damage{DamageKind::kTruncatedHeader, pos, next_seq, end - pos, 0, ""});
      return;
    }
    std::string why;
    auto h = disk::decode_block_header(base_ + pos, &why);
    if (h) {
      uint64_t block_end = pos + disk::kBlockHeaderBytes + h->stored_bytes;
      if (block_end > end) {
        add_damage(nullptr, Damage{DamageKind::kTruncatedBlock, pos, static_cast<int64_t>(h->sequence), end - pos,
                                   h->records,
                                   std::to_string(end - pos) + " of " + std::to_string(block_end - pos) +
                                       " bytes present"});
        return;
      }
      add_block(pos, *h);
      next_seq = static_cast<int64_t>(h->sequence) + 1;
      pos = block_end;
      continue;
    }
    // Resynchronize on the next valid block header.
    uint64_t next = end;
    for (uint64_t p = pos + 1; p + disk::kBlockHeaderBytes <= end; ++p) {
      const void* hit = std::memchr(base_ + p, 'E', end - p);
      if (!hit) break;
      p = static_cast<const uint8_t*>(hit) - base_;
      if (p + disk::kBlockHeaderBytes > end) break;
      if (disk::get32(base_ + p) == disk::kBlockMagic && disk::decode_block_header(base_ + p, nullptr)) {
        next = p;
        break;
      }
    }
    add_damage(nullptr, Damage{DamageKind::kBadBlockHeader, pos, next_seq, next - pos, 0, why});
    ++next_seq;
    pos = next;
  }
}

bool CaptureReader::Impl::load_payload(const BlockRef& b, std::vector<uint8_t>& out) const {
  const uint8_t* src = base_ + b.offset + disk::kBlockHeaderBytes;
  const auto& h = b.header;
  auto fail = [&](DamageKind kind) {
    add_damage(&b, Damage{kind, b.offset, static_cast<int64_t>(h.sequence), disk::kBlockHeaderBytes + h.stored_bytes,
                          h.records, ""});
    return false;
  };
  if (damaged_offsets_.count(b.offset)) return false;
  if (disk::crc32(src, h.stored_bytes) != h.payload_crc) return fail(DamageKind::kChecksum);
  out.resize(h.raw_bytes);
  if (h.codec == disk::kCodecNone) {
    if (h.raw_bytes) std::memcpy(out.data(), src, h.raw_bytes);  // empty: data() may be null
  } else {
    int n = LZ4_decompress_safe(reinterpret_cast<const char*>(src), reinterpret_cast<char*>(out.data()),
                                static_cast<int>(h.stored_bytes), static_cast<int>(h.raw_bytes));
    if (n < 0 || static_cast<uint32_t>(n) != h.raw_bytes) return fail(DamageKind::kDecompression);
  }
  // The payload is copied out: hand the block's whole file pages back, so a
  // reader's resident memory stays at one block, not the whole file (they
  // fault in again from the page cache if read again). Only our own mapping of
  // the file: on the caller's memory (anonymous pages) MADV_DONTNEED would
  // zero-fill them, i.e. erase the input a reader must never write.
  if (borrowed_) return true;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t first = (reinterpret_cast<uintptr_t>(src) + page - 1) & ~(page - 1);
  uintptr_t last = (reinterpret_cast<uintptr_t>(src) + h.stored_bytes) & ~(page - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return true;
}

void CaptureReader::Impl::for_each_message(const ReadOptions& options, const MessageFn& fn) const {
  ++decoded_.passes;
  std::vector<uint8_t> payload;
  DecodeBudget budget(size_);
  for (const BlockRef& b : data_blocks_) {
    const auto& h = b.header;
    if ((h.kind_mask & options.kinds) == 0) continue;
    if ((h.kind_mask & ~kEventKinds) == 0 &&
        (h.last_time_ns < options.time_begin_ns || h.first_time_ns >= options.time_end_ns))
      continue;
    if (!load_payload(b, payload)) continue;
    if (options.stats) {
      ++options.stats->blocks;
      options.stats->raw_bytes += h.raw_bytes;
      options.stats->stored_bytes += h.stored_bytes;
    }
    ++decoded_.blocks;
    uint64_t delivered = 0;
    uint64_t messages = 0;
    DecodeBudget block_budget(disk::kBlockHeaderBytes + h.stored_bytes, limits::kBlockDecodeFloorWords, &budget,
                              "this block");
    auto undecodable = [&](const char* what) {
      add_damage(&b, Damage{DamageKind::kUndecodableRecords, b.offset, static_cast<int64_t>(h.sequence),
                            disk::kBlockHeaderBytes + h.stored_bytes, h.records > delivered ? h.records - delivered : 0,
                            what});
    };
    try {
      size_t pos = 0;
      while (pos < payload.size()) {
        if (++messages > limits::kMaxMessagesPerBlock)
          throw CorruptRecord("more than " + std::to_string(limits::kMaxMessagesPerBlock) +
                              " messages in one block (limit)");
        if (payload.size() - pos < disk::kFrameBytes) throw CorruptRecord("truncated message frame");
        uint16_t kind = disk::get16(payload.data() + pos);
        uint32_t len = disk::get32(payload.data() + pos + 4);
        if (len > payload.size() - pos - disk::kFrameBytes) throw CorruptRecord("message frame longer than its block");
        const uint8_t* m = payload.data() + pos + disk::kFrameBytes;
        pos += disk::kFrameBytes + len;
        if (!(options.kinds & kind_bit(kind))) continue;
        FrameMessage msg(m, len, block_budget);
        uint64_t n = fn(b, kind, msg.get(), len + disk::kFrameBytes);
        delivered += n;
        ++decoded_.messages;
        decoded_.records += n;
        if (delivered > limits::kMaxRecordsPerBlock)
          throw CorruptRecord("more than " + std::to_string(limits::kMaxRecordsPerBlock) +
                              " records in one block (limit)");
        if (options.stats) {
          auto& ks = options.stats->kinds[kind];
          ++ks.messages;
          ks.records += n;
          ks.raw_bytes += len + disk::kFrameBytes;
          ks.stored_bytes += h.raw_bytes ? (uint64_t{len} + disk::kFrameBytes) * h.stored_bytes / h.raw_bytes : 0;
        }
      }
    } catch (const kj::Exception& e) {
      undecodable(e.getDescription().cStr());
    } catch (const CorruptRecord& e) {
      undecodable(e.what());
    }
    // Anything else thrown by `fn` (a visitor's bug, bad_alloc) is not damage in
    // the file: it propagates to the caller.
  }
}

void CaptureReader::Impl::load_session() {
  if (data_blocks_.empty()) return;
  ReadOptions only_session;
  only_session.kinds = kind_bit(RecordKind::kSession);
  // The session is the first record of the first data block.
  std::vector<uint8_t> payload;
  const BlockRef& b = data_blocks_.front();
  if (!(b.header.kind_mask & only_session.kinds) || !load_payload(b, payload)) return;
  try {
    if (payload.size() < disk::kFrameBytes || disk::get16(payload.data()) != 0) return;
    uint32_t len = disk::get32(payload.data() + 4);
    if (len > payload.size() - disk::kFrameBytes) return;
    DecodeBudget budget(size_);
    FrameMessage msg(payload.data() + disk::kFrameBytes, len, budget);
    auto r = msg.get().getRoot<wire::Record>();
    if (r.which() == wire::Record::SESSION) session_ = Kind<RecordKind::kSession>::decode(r.getSession());
  } catch (const kj::Exception& e) {
    add_damage(&b, Damage{DamageKind::kUndecodableSession, b.offset, static_cast<int64_t>(b.header.sequence),
                          disk::kBlockHeaderBytes + b.header.stored_bytes, b.header.records,
                          e.getDescription().cStr()});
  } catch (const CorruptRecord& e) {
    add_damage(&b, Damage{DamageKind::kUndecodableSession, b.offset, static_cast<int64_t>(b.header.sequence),
                          disk::kBlockHeaderBytes + b.header.stored_bytes, b.header.records, e.what()});
  }
}

const capnp::StructSchema* CaptureReader::Impl::embedded_record() const {
  if (schema_tried_) return record_schema_ ? &*record_schema_ : nullptr;
  schema_tried_ = true;
  if (!schema_block_) return nullptr;
  std::vector<uint8_t> payload;
  if (!load_payload(*schema_block_, payload)) return nullptr;
  try {
    if (payload.size() < disk::kFrameBytes) return nullptr;
    uint32_t len = disk::get32(payload.data() + 4);
    if (len > payload.size() - disk::kFrameBytes) return nullptr;
    DecodeBudget budget(size_);
    FrameMessage msg(payload.data() + disk::kFrameBytes, len, budget);
    // This build's schema, byte for byte as its writer stores it (the usual
    // case): nothing to copy, check or load.
    static const std::vector<uint8_t> compiled = encode_schema_block(compiled_record_schema());
    static const std::vector<uint8_t> as_written = [] {
      // CaptureWriter stores a copy of `compiled` (format/writer.cpp).
      kj::Array<capnp::word> words = kj::heapArray<capnp::word>(compiled.size() / 8);
      std::memcpy(words.begin(), compiled.data(), compiled.size());
      capnp::FlatArrayMessageReader reader(words);
      capnp::MallocMessageBuilder copy;
      copy.setRoot(reader.getRoot<capnp::AnyPointer>());
      kj::Array<capnp::word> flat = capnp::messageToFlatArray(copy);
      return std::vector<uint8_t>(flat.asBytes().begin(), flat.asBytes().end());
    }();
    if (msg.equals_flat(as_written)) {
      record_schema_ = compiled_record_schema();
      return &*record_schema_;
    }
    // A deep copy follows every pointer once and throws on invalid ones, so
    // neither the checks below nor the schema loader see them.
    capnp::MallocMessageBuilder copy;
    copy.setRoot(msg.get().getRoot<wire::SchemaBlock>());
    auto sb = copy.getRoot<wire::SchemaBlock>().asReader();
    // The same schema as this build's, laid out differently: nothing to load.
    auto flat = capnp::messageToFlatArray(copy);
    auto bytes = flat.asBytes();
    if (bytes.size() == compiled.size() && std::memcmp(bytes.begin(), compiled.data(), compiled.size()) == 0) {
      record_schema_ = compiled_record_schema();
      return &*record_schema_;
    }
    if (std::string why = check_schema_nodes(sb.getNodes()); !why.empty()) throw CorruptRecord(why);
    loader_ = std::make_unique<capnp::SchemaLoader>();
    for (auto node : sb.getNodes()) loader_->load(node);
    record_schema_ = loader_->get(sb.getRecordNodeId()).asStruct();
  } catch (const kj::Exception& e) {
    const BlockRef& b = *schema_block_;
    add_damage(&b, Damage{DamageKind::kSchemaUnusable, b.offset, static_cast<int64_t>(b.header.sequence),
                          disk::kBlockHeaderBytes + b.header.stored_bytes, 0, e.getDescription().cStr()});
    record_schema_.reset();
    return nullptr;
  } catch (const CorruptRecord& e) {
    const BlockRef& b = *schema_block_;
    add_damage(&b, Damage{DamageKind::kSchemaUnusable, b.offset, static_cast<int64_t>(b.header.sequence),
                          disk::kBlockHeaderBytes + b.header.stored_bytes, 0, e.what()});
    record_schema_.reset();
    return nullptr;
  }
  return &*record_schema_;
}

// ---- CaptureReader -----------------------------------------------------------

CaptureReader::CaptureReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
CaptureReader::CaptureReader(const std::string& name, const uint8_t* data, size_t size)
    : impl_(std::make_unique<Impl>(name, data, size)) {}
CaptureReader::~CaptureReader() = default;
CaptureReader::CaptureReader(CaptureReader&&) noexcept = default;

uint16_t CaptureReader::major_version() const { return impl_->header_.major; }
uint16_t CaptureReader::minor_version() const { return impl_->header_.minor; }
const SessionInfo& CaptureReader::session() const { return impl_->session_; }
bool CaptureReader::has_index() const { return impl_->has_index_; }
const std::vector<BlockInfo>& CaptureReader::blocks() const { return impl_->infos_; }
const std::vector<Damage>& CaptureReader::damage() const { return impl_->damage_; }
uint64_t CaptureReader::file_bytes() const { return impl_->size_; }

const DecodeCounts& CaptureReader::decoded() const { return impl_->decoded_; }

bool CaptureReader::corrupted() const {
  for (const auto& d : impl_->damage_)
    if (!d.truncated_tail()) return true;
  return false;
}

std::vector<std::string> CaptureReader::warnings() const {
  std::vector<std::string> lines;
  bool end_explained = false;  // a damage already says why there is no index
  for (const auto& d : impl_->damage_) {
    lines.push_back(describe(d));
    if (d.truncated_tail() || d.kind == DamageKind::kIndexUnusable) end_explained = true;
  }
  if (!impl_->has_index_ && !end_explained)
    lines.push_back("capture not finished (no index: recorder killed or still running); read " +
                    std::to_string(impl_->infos_.size()) + " complete blocks");
  return lines;
}

void CaptureReader::verify() const {
  RecordVisitor ignore;
  read(ignore);
  impl_->embedded_record();
}

std::vector<std::string> CaptureReader::embedded_kind_names() const {
  std::vector<std::string> names;
  const capnp::StructSchema* rec = impl_->embedded_record();
  if (!rec) return names;
  for (auto f : rec->getUnionFields()) {
    uint16_t d = f.getProto().getDiscriminantValue();
    if (d >= names.size()) names.resize(d + 1);
    names[d] = f.getProto().getName().cStr();
  }
  return names;
}

namespace {

// Per-record limits (docs/format.md section 7): why a record is refused, or "".
// `words`: the message's size. Every element of a struct list takes at least
// a word when written by ebtrace; lists of zero-sized structs claiming more
// elements than that are amplification (each becomes a C++ object).
std::string over_limits(wire::Record::Reader r, uint64_t words) {
  auto too_many = [&](const char* what, uint64_t n) {
    return n > words ? std::string(what) + ": " + std::to_string(n) + " elements in a message of " +
                           std::to_string(words) + " words (limit: one per word)"
                     : std::string();
  };
  switch (r.which()) {
    case wire::Record::STACK: {
      auto st = r.getStack();
      uint64_t n = st.getAddresses().size();
      if (n > limits::kMaxStackFrames)
        return "stack " + std::to_string(st.getId()) + " has " + std::to_string(n) + " frames (limit " +
               std::to_string(limits::kMaxStackFrames) + " per stack)";
      return "";
    }
    case wire::Record::SYMBOL_TABLE: {
      auto t = r.getSymbolTable();
      auto locations = t.getLocations();
      std::string why = too_many("symbol table", uint64_t{t.getSymbols().size()} + locations.size() +
                                                     t.getSegments().size());
      if (!why.empty()) return why;
      uint64_t frames = 0;
      for (auto l : locations) {
        uint64_t f = l.getFrames().size();
        frames += f;
        if (f > limits::kMaxInlineFrames)
          return "symbol table location with " + std::to_string(f) + " inline frames (limit " +
                 std::to_string(limits::kMaxInlineFrames) + ")";
      }
      return too_many("symbol table inline frames", frames);
    }
    case wire::Record::KERNEL_SYMBOLS: return too_many("kernel symbols", r.getKernelSymbols().getSymbols().size());
    case wire::Record::OFF_CPU_INTERVALS:
      return too_many("off-CPU intervals", r.getOffCpuIntervals().getIntervals().size());
    case wire::Record::SKB_HOPS: return too_many("packet hops", r.getSkbHops().getHops().size());
    case wire::Record::SYSCALLS: return too_many("syscalls", r.getSyscalls().getEvents().size());
    case wire::Record::STACK_SNAPSHOTS:
      return too_many("stack snapshots", r.getStackSnapshots().getSnapshots().size());
    case wire::Record::UNWIND_TABLE: return too_many("unwind table chunks", r.getUnwindTable().getChunks().size());
    default: return "";
  }
}

// Delivers the records of one message of kind K to the visitor; events outside
// [begin, end) are skipped. Returns how many were delivered.
using DeliverFn = uint64_t (*)(wire::Record::Reader, RecordVisitor&, uint64_t begin, uint64_t end);

template <RecordKind K>
uint64_t deliver(wire::Record::Reader r, RecordVisitor& visitor, uint64_t begin, uint64_t end) {
  detail::VisitOne<record_t<K>>& to = visitor;
  uint64_t n = 0;
  decode_records<K>(r, [&](const record_t<K>& record) {
    if constexpr (Kind<K>::shape != Shape::kTable) {
      const uint64_t t = Kind<K>::time(record);
      if (t < begin || t >= end) return;
    }
    to.on(record);
    ++n;
  });
  return n;
}

constexpr auto kDeliver = kind_array([](auto k) -> DeliverFn { return &deliver<k()>; });

}  // namespace

void CaptureReader::read(RecordVisitor& v, const ReadOptions& o) const {
  impl_->for_each_message(o, [&](const BlockRef& blk, uint16_t, capnp::MessageReader& msg, size_t) -> uint64_t {
    auto r = msg.getRoot<wire::Record>();
    uint64_t words = 0;
    for (unsigned i = 0; i < 512; ++i) {
      auto seg = msg.getSegment(i);
      if (seg == nullptr) break;
      words += seg.size();
    }
    if (std::string why = over_limits(r, words); !why.empty()) {
      // Only this record is refused: the block's other records are sound.
      impl_->add_damage(&blk, Damage{DamageKind::kUndecodableRecords, blk.offset,
                                     static_cast<int64_t>(blk.header.sequence),
                                     disk::kBlockHeaderBytes + blk.header.stored_bytes, 1, "record refused: " + why});
      return 0;
    }
    const auto which = static_cast<uint16_t>(r.which());
    if (which < kDeliver.size()) return kDeliver[which](r, v, o.time_begin_ns, o.time_end_ns);
    v.on_unknown(which);
    return 1;
  });
}

}  // namespace ebt::format
