#include "format/splice.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <capnp/message.h>
#include <capnp/serialize-packed.h>

#include "common/error.h"
#include "format/block.h"
#include "format/capture.capnp.h"

namespace ebt::format {
namespace {

std::vector<uint8_t> read_whole(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw RuntimeFailure("cannot open " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> data;
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off_t(data.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  ::close(fd);
  return data;
}

struct Block {
  disk::BlockHeader header;
  const uint8_t* payload;
};

// The blocks of a complete capture in file order (schema, session, data, index).
std::vector<Block> blocks_of(const std::vector<uint8_t>& f, const std::string& what, std::vector<std::string>* notes) {
  if (f.size() < disk::kFileHeaderBytes || std::memcmp(f.data(), disk::kFileMagic, 8) != 0)
    throw BadInput(what + ": not a capture");
  size_t pos = disk::get32(f.data() + 12);
  std::vector<Block> out;
  while (pos + disk::kBlockHeaderBytes <= f.size()) {
    std::string why;
    auto h = disk::decode_block_header(f.data() + pos, &why);
    if (!h) break;  // the trailer
    if (pos + disk::kBlockHeaderBytes + h->stored_bytes > f.size()) {
      if (notes) notes->push_back(what + ": cut at offset " + std::to_string(pos) + " (recorder killed?); its complete blocks are read");
      break;
    }
    out.push_back({*h, f.data() + pos + disk::kBlockHeaderBytes});
    pos += disk::kBlockHeaderBytes + h->stored_bytes;
  }
  return out;
}

class Out {
 public:
  explicit Out(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) throw RuntimeFailure("cannot create capture " + path + ": " + std::strerror(errno));
    if (::fchmod(fd_, 0600) != 0) {
      int e = errno;
      ::close(fd_);
      throw RuntimeFailure("cannot set mode 0600 on " + path + ": " + std::strerror(e));
    }
  }
  ~Out() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const void* data, size_t n) {
    auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw RuntimeFailure("cannot write capture " + path_ + ": " + std::strerror(errno));
      p += w;
      n -= size_t(w);
      offset_ += uint64_t(w);
    }
  }
  void block(disk::BlockHeader h, const uint8_t* payload) {
    h.sequence = next_seq_++;
    index_.emplace_back(offset_, h);
    uint8_t hb[disk::kBlockHeaderBytes];
    disk::encode_block_header(h, hb);
    write(hb, sizeof hb);
    write(payload, h.stored_bytes);
  }
  uint64_t finish() {
    capnp::MallocMessageBuilder msg;
    auto entries = msg.initRoot<wire::Index>().initBlocks(unsigned(index_.size()));
    for (unsigned i = 0; i < index_.size(); ++i) {
      const auto& [off, h] = index_[i];
      auto e = entries[i];
      e.setOffset(off);
      e.setType(h.type);
      e.setSequence(h.sequence);
      e.setStoredBytes(h.stored_bytes);
      e.setRawBytes(h.raw_bytes);
      e.setRecords(h.records);
      e.setFirstTimeNs(h.first_time_ns);
      e.setLastTimeNs(h.last_time_ns);
      e.setKindMask(h.kind_mask);
    }
    // One frame (docs/format.md "Payload"): u16 kind, u16 flags, u32 bytes, packed message.
    kj::VectorOutputStream packed;
    capnp::writePackedMessage(packed, msg);
    auto bytes = packed.getArray();
    std::vector<uint8_t> payload(disk::kFrameBytes + bytes.size());
    disk::put16(payload.data(), 0);
    disk::put16(payload.data() + 2, 0);
    disk::put32(payload.data() + 4, uint32_t(bytes.size()));
    std::memcpy(payload.data() + disk::kFrameBytes, bytes.begin(), bytes.size());
    disk::BlockHeader ih;
    ih.type = disk::kIndexBlock;
    ih.codec = disk::kCodecNone;
    ih.stored_bytes = ih.raw_bytes = uint32_t(payload.size());
    ih.payload_crc = disk::crc32(payload.data(), payload.size());
    uint64_t index_offset = offset_;
    ih.sequence = next_seq_++;
    uint8_t hb[disk::kBlockHeaderBytes];
    disk::encode_block_header(ih, hb);
    write(hb, sizeof hb);
    write(payload.data(), payload.size());
    disk::Trailer t;
    t.index_offset = index_offset;
    t.index_bytes = offset_ - index_offset;
    t.block_count = next_seq_;
    uint8_t tb[disk::kTrailerBytes];
    disk::encode_trailer(t, tb);
    write(tb, sizeof tb);
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw RuntimeFailure("cannot close capture " + path_ + ": " + std::strerror(errno));
    }
    fd_ = -1;
    return offset_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint32_t next_seq_ = 0;
  std::vector<std::pair<uint64_t, disk::BlockHeader>> index_;
};

}  // namespace

uint64_t splice_captures(const std::string& head, const std::vector<std::string>& segments, const std::string& out,
                         std::vector<std::string>* notes) {
  std::vector<uint8_t> h = read_whole(head);
  std::vector<Block> hb = blocks_of(h, head, nullptr);
  if (hb.size() < 2 || hb[0].header.type != disk::kSchemaBlock)
    throw BadInput(head + ": no schema and session block");
  Out o(out);
  uint8_t fh[disk::kFileHeaderBytes];
  disk::encode_file_header(disk::FileHeader{}, fh);
  o.write(fh, sizeof fh);
  o.block(hb[0].header, hb[0].payload);  // schema
  o.block(hb[1].header, hb[1].payload);  // session
  for (const auto& path : segments) {
    std::vector<uint8_t> s = read_whole(path);
    std::vector<Block> sb = blocks_of(s, path, notes);
    // Block 0 is the schema, block 1 the session alone (format/writer.h).
    for (size_t i = 2; i < sb.size(); i++)
      if (sb[i].header.type == disk::kDataBlock) o.block(sb[i].header, sb[i].payload);
  }
  return o.finish();
}

}  // namespace ebt::format
