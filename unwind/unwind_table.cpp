#include "unwind/unwind_table.h"

#include <elf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <tuple>

namespace ebt::unwind {
namespace {

constexpr uint64_t kMaxChunkBytes = 64ull << 20;  // .eh_frame of the largest binaries is a few MB
constexpr uint64_t kMaxFileBytes = 16ull << 30;   // sparse: costs nothing but must stay sane
constexpr uint16_t kMaxPhdrs = 512;

bool read_at(int fd, uint64_t offset, size_t n, std::vector<uint8_t>* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, out->data() + done, n - done, off_t(offset + done));
    if (r <= 0) return false;
    done += size_t(r);
  }
  return true;
}

// Validates an ELF header + program header table held in `head` (the file's
// first bytes). Fills the header and the program headers.
bool parse_head(const std::vector<uint8_t>& head, Elf64_Ehdr* eh, std::vector<Elf64_Phdr>* ph, std::string* why) {
  if (head.size() < sizeof(Elf64_Ehdr)) {
    *why = "shorter than an ELF header";
    return false;
  }
  std::memcpy(eh, head.data(), sizeof *eh);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB) {
    *why = "not a 64-bit little-endian ELF file";
    return false;
  }
  if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > kMaxPhdrs ||
      eh->e_phoff > head.size() || head.size() - eh->e_phoff < uint64_t(eh->e_phnum) * sizeof(Elf64_Phdr)) {
    *why = "bad program header table";
    return false;
  }
  ph->resize(eh->e_phnum);
  std::memcpy(ph->data(), head.data() + eh->e_phoff, eh->e_phnum * sizeof(Elf64_Phdr));
  return true;
}

const Elf64_Phdr* find_phdr(const std::vector<Elf64_Phdr>& ph, uint32_t type) {
  for (const auto& p : ph)
    if (p.p_type == type) return &p;
  return nullptr;
}

// [offset, size) of .eh_frame from the section headers; {0, 0} if not found.
std::pair<uint64_t, uint64_t> eh_frame_section(int fd, const Elf64_Ehdr& eh, uint64_t file_size) {
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 || eh.e_shnum > 4096 ||
      eh.e_shstrndx >= eh.e_shnum || eh.e_shoff > file_size ||
      file_size - eh.e_shoff < uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr))
    return {0, 0};
  std::vector<uint8_t> raw;
  if (!read_at(fd, eh.e_shoff, eh.e_shnum * sizeof(Elf64_Shdr), &raw)) return {0, 0};
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  std::memcpy(sh.data(), raw.data(), raw.size());
  const Elf64_Shdr& strtab = sh[eh.e_shstrndx];
  if (strtab.sh_offset > file_size || strtab.sh_size > file_size - strtab.sh_offset || strtab.sh_size > (1 << 20))
    return {0, 0};
  std::vector<uint8_t> names;
  if (!read_at(fd, strtab.sh_offset, strtab.sh_size, &names)) return {0, 0};
  names.push_back(0);
  for (const auto& s : sh) {
    if (s.sh_type != SHT_PROGBITS || s.sh_name >= names.size()) continue;
    if (std::strcmp(reinterpret_cast<const char*>(names.data()) + s.sh_name, ".eh_frame") == 0)
      return {s.sh_offset, s.sh_size};
  }
  return {0, 0};
}

// Without section headers: .eh_frame starts where .eh_frame_hdr points and
// runs at most to the end of the PT_LOAD holding it.
std::pair<uint64_t, uint64_t> eh_frame_from_hdr(const std::vector<uint8_t>& hdr, const Elf64_Phdr& hdr_ph,
                                                const std::vector<Elf64_Phdr>& ph) {
  // version 1, eh_frame_ptr encoded as pcrel|sdata4 (what every linker emits)
  if (hdr.size() < 8 || hdr[0] != 1 || hdr[1] != 0x1b) return {0, 0};
  int32_t rel;
  std::memcpy(&rel, hdr.data() + 4, 4);
  uint64_t vaddr = hdr_ph.p_vaddr + 4 + int64_t(rel);
  for (const auto& p : ph) {
    if (p.p_type != PT_LOAD || vaddr < p.p_vaddr || vaddr >= p.p_vaddr + p.p_filesz) continue;
    uint64_t off = p.p_offset + (vaddr - p.p_vaddr);
    return {off, p.p_offset + p.p_filesz - off};
  }
  return {0, 0};
}

// The table chunk holding file bytes [offset, offset + n), or null.
const FileChunk* chunk_at(const UnwindTable& t, uint64_t offset, uint64_t n) {
  for (const auto& c : t.chunks)
    if (offset >= c.offset && offset - c.offset <= c.data.size() && c.data.size() - (offset - c.offset) >= n)
      return &c;
  return nullptr;
}

// libdw's CFI parsers are not hardened against crafted input: before a table
// is handed over, its .eh_frame_hdr and .eh_frame must have the shape every
// linker emits. Checked: the header's encodings (pcrel|sdata4 pointer,
// udata4 count, datarel|sdata4 table), the search table inside the segment,
// sorted, each entry pointing at an FDE; .eh_frame as a chain of CIE/FDE
// records inside its chunk, 32-bit lengths, each FDE's CIE pointer naming a
// CIE before it. (The CFA programs themselves are libdw's to interpret.)
bool check_cfi(const UnwindTable& t, const std::vector<Elf64_Phdr>& ph, const Elf64_Phdr& hdr_ph, std::string* why) {
  auto fail = [&](const char* w) {
    *why = w;
    return false;
  };
  const FileChunk* hc = chunk_at(t, hdr_ph.p_offset, hdr_ph.p_filesz);
  if (!hc || hdr_ph.p_filesz < 12) return fail(".eh_frame_hdr missing from the table");
  const uint8_t* h = hc->data.data() + (hdr_ph.p_offset - hc->offset);
  if (h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 || h[3] != 0x3b) return fail("unsupported .eh_frame_hdr encoding");
  int32_t rel;
  uint32_t count;
  std::memcpy(&rel, h + 4, 4);
  std::memcpy(&count, h + 8, 4);
  if (uint64_t{count} > (hdr_ph.p_filesz - 12) / 8) return fail(".eh_frame_hdr table outside its segment");
  // .eh_frame: from where the header points to the end of its PT_LOAD's file bytes.
  uint64_t eh_vaddr = hdr_ph.p_vaddr + 4 + int64_t(rel);
  uint64_t eh_off = 0, eh_end = 0;
  for (const auto& p : ph)
    if (p.p_type == PT_LOAD && eh_vaddr >= p.p_vaddr && eh_vaddr - p.p_vaddr < p.p_filesz) {
      eh_off = p.p_offset + (eh_vaddr - p.p_vaddr);
      eh_end = p.p_offset + p.p_filesz;
      break;
    }
  if (eh_end == 0) return fail(".eh_frame outside the loaded segments");
  const FileChunk* ec = chunk_at(t, eh_off, 4);
  if (!ec) return fail(".eh_frame missing from the table");
  const uint64_t chunk_end = std::min<uint64_t>(eh_end, ec->offset + ec->data.size());
  std::vector<uint64_t> cies, fdes;  // file offsets of the records, increasing
  uint64_t pos = eh_off;
  while (chunk_end - pos >= 4) {
    uint32_t len;
    std::memcpy(&len, ec->data.data() + (pos - ec->offset), 4);
    if (len == 0) break;  // terminator
    if (len == 0xffffffffu) return fail(".eh_frame with 64-bit record lengths");
    if (len < 4 || len > chunk_end - pos - 4) return fail(".eh_frame record longer than the table");
    uint32_t id;
    std::memcpy(&id, ec->data.data() + (pos + 4 - ec->offset), 4);
    if (id == 0) {
      const uint8_t* r = ec->data.data() + (pos + 8 - ec->offset);
      uint64_t n = len - 4;
      if (n < 2 || (r[0] != 1 && r[0] != 3 && r[0] != 4) || !std::memchr(r + 1, 0, n - 1))
        return fail(".eh_frame CIE malformed");
      cies.push_back(pos);
    } else {
      if (id > pos + 4 - eh_off || !std::binary_search(cies.begin(), cies.end(), pos + 4 - id))
        return fail(".eh_frame FDE without its CIE");
      fdes.push_back(pos);
    }
    if (cies.size() + fdes.size() > (4u << 20)) return fail(".eh_frame has too many records");
    pos += 4 + uint64_t{len};
  }
  // The search table: (initial location, FDE address), relative to the header.
  int64_t prev = INT64_MIN;
  for (uint32_t i = 0; i < count; ++i) {
    int32_t loc, fde;
    std::memcpy(&loc, h + 12 + 8 * uint64_t{i}, 4);
    std::memcpy(&fde, h + 16 + 8 * uint64_t{i}, 4);
    if (loc < prev) return fail(".eh_frame_hdr table not sorted");
    prev = loc;
    uint64_t fde_vaddr = hdr_ph.p_vaddr + int64_t(fde);
    if (fde_vaddr < eh_vaddr || !std::binary_search(fdes.begin(), fdes.end(), eh_off + (fde_vaddr - eh_vaddr)))
      return fail(".eh_frame_hdr entry not pointing at an FDE");
  }
  return true;
}

}  // namespace

std::optional<UnwindTable> extract_unwind_table(int fd, const std::string& path,
                                                const std::vector<uint8_t>& build_id, std::string* why) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *why = std::string("cannot stat: ") + strerror(errno);
    return std::nullopt;
  }
  uint64_t file_size = uint64_t(st.st_size);
  // The head chunk: the ELF header through the end of the program headers.
  Elf64_Ehdr eh{};
  std::vector<uint8_t> probe;
  if (file_size < sizeof eh || !read_at(fd, 0, sizeof eh, &probe)) {
    *why = "not an ELF file";
    return std::nullopt;
  }
  std::memcpy(&eh, probe.data(), sizeof eh);
  uint64_t head_end = std::max<uint64_t>(sizeof eh, uint64_t(eh.e_phoff) + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr));
  FileChunk head;
  std::vector<Elf64_Phdr> ph;
  if (eh.e_phoff > (1 << 20) || head_end > std::min<uint64_t>(file_size, 1 << 20) ||
      !read_at(fd, 0, head_end, &head.data) || !parse_head(head.data, &eh, &ph, why)) {
    if (why->empty()) *why = "bad ELF program headers";
    return std::nullopt;
  }
  UnwindTable t;
  t.path = path;
  t.build_id = build_id;
  t.file_size = file_size;
  const Elf64_Phdr* hdr = find_phdr(ph, PT_GNU_EH_FRAME);
  if (!hdr || hdr->p_filesz == 0 || hdr->p_offset > file_size || hdr->p_filesz > file_size - hdr->p_offset ||
      hdr->p_filesz > kMaxChunkBytes) {
    *why = "no .eh_frame_hdr (PT_GNU_EH_FRAME)";
    return std::nullopt;
  }
  FileChunk hdr_chunk{hdr->p_offset, {}};
  if (!read_at(fd, hdr->p_offset, hdr->p_filesz, &hdr_chunk.data)) {
    *why = "cannot read .eh_frame_hdr";
    return std::nullopt;
  }
  auto [off, size] = eh_frame_section(fd, eh, file_size);
  if (size == 0) std::tie(off, size) = eh_frame_from_hdr(hdr_chunk.data, *hdr, ph);
  if (size == 0 || off > file_size || size > file_size - off || size > kMaxChunkBytes) {
    *why = "no .eh_frame";
    return std::nullopt;
  }
  FileChunk frames{off, {}};
  if (!read_at(fd, off, size, &frames.data)) {
    *why = "cannot read .eh_frame";
    return std::nullopt;
  }
  t.chunks.push_back(std::move(head));
  t.chunks.push_back(std::move(hdr_chunk));
  t.chunks.push_back(std::move(frames));
  return t;
}

int materialize(const UnwindTable& t, std::string* why) {
  Elf64_Ehdr eh;
  std::vector<Elf64_Phdr> ph;
  if (t.chunks.empty() || t.chunks[0].offset != 0 || !parse_head(t.chunks[0].data, &eh, &ph, why)) {
    if (why->empty()) *why = "no ELF header chunk";
    return -1;
  }
  if (t.file_size > kMaxFileBytes) {
    *why = "file size out of range";
    return -1;
  }
  for (const auto& c : t.chunks) {
    if (c.offset > t.file_size || c.data.size() > t.file_size - c.offset || c.data.size() > kMaxChunkBytes) {
      *why = "chunk outside the file";
      return -1;
    }
  }
  const Elf64_Phdr* hdr = find_phdr(ph, PT_GNU_EH_FRAME);
  if (!hdr) {
    *why = "no PT_GNU_EH_FRAME";
    return -1;
  }
  if (!check_cfi(t, ph, *hdr, why)) return -1;
  int fd = memfd_create("ebtrace-unwind", MFD_CLOEXEC);
  if (fd < 0) {
    *why = std::string("memfd_create: ") + strerror(errno);
    return -1;
  }
  auto put = [&](uint64_t offset, const void* data, size_t n) {
    return pwrite(fd, data, n, off_t(offset)) == ssize_t(n);
  };
  bool ok = ftruncate(fd, off_t(t.file_size)) == 0;
  for (const auto& c : t.chunks) ok = ok && (c.data.empty() || put(c.offset, c.data.data(), c.data.size()));
  // No section headers: their bytes are not in the table.
  eh.e_shoff = 0;
  eh.e_shnum = 0;
  eh.e_shstrndx = SHN_UNDEF;
  ok = ok && put(0, &eh, sizeof eh);
  if (!ok) {
    *why = std::string("writing the rebuilt file: ") + strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

std::vector<LoadSegment> load_segments(const UnwindTable& t) {
  Elf64_Ehdr eh;
  std::vector<Elf64_Phdr> ph;
  std::string why;
  std::vector<LoadSegment> out;
  if (t.chunks.empty() || t.chunks[0].offset != 0 || !parse_head(t.chunks[0].data, &eh, &ph, &why)) return out;
  for (const auto& p : ph)
    if (p.p_type == PT_LOAD) out.push_back({p.p_vaddr, p.p_offset, p.p_filesz});
  return out;
}

std::optional<uint64_t> load_bias(const std::vector<LoadSegment>& segments, uint64_t map_start, uint64_t map_offset) {
  for (const auto& s : segments)
    if ((s.file_offset & ~uint64_t(4095)) <= map_offset && map_offset < s.file_offset + s.file_size)
      return map_start - (s.vaddr - s.file_offset + map_offset);
  return std::nullopt;
}

}  // namespace ebt::unwind
