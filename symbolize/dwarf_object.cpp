#include "symbolize/dwarf_object.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <cstring>
#include <cerrno>
#include <sys/stat.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "symbolize/cu_index.h"
#include "symbolize/embedded_table.h"

namespace ebt::symbolize {
namespace {

// We locate debug files ourselves (by build-id, --symfs, debuginfod on request), so
// libdwfl must not go looking on its own: it could contact debuginfod behind the
// user's back or pick files we did not verify.
int no_separate_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*,
                          const char*, GElf_Word, char**) {
  return -1;
}

const Dwfl_Callbacks kCallbacks = {
    .find_elf = nullptr,
    .find_debuginfo = no_separate_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

const char* attr_string(Dwarf_Die* die, unsigned int name) {
  Dwarf_Attribute attr;
  if (dwarf_attr_integrate(die, name, &attr) == nullptr) return nullptr;
  return dwarf_formstring(&attr);
}

// Linkage (mangled) names carry namespaces and classes; DW_AT_name does not.
std::string die_function_name(Dwarf_Die* die) {
  const char* n = attr_string(die, DW_AT_linkage_name);
  if (n == nullptr) n = attr_string(die, DW_AT_MIPS_linkage_name);
  if (n == nullptr) n = attr_string(die, DW_AT_name);
  return n ? n : "";
}

}  // namespace

// Opens a regular file for reading. Paths come from untrusted captures (and
// --symfs lookups of them): a FIFO must not block the open, and neither FIFOs
// nor devices are read. -1 with `why` set otherwise.
int open_regular(const std::string& path, std::string* why) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    if (why) *why = "not a regular file";
    return -1;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (why) *why = std::string("cannot open: ") + std::strerror(errno);
    return -1;
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // replaced since the stat
    ::close(fd);
    if (why) *why = "not a regular file";
    return -1;
  }
  return fd;
}

namespace {

std::vector<uint8_t> build_id_of(int fd) {
  std::vector<uint8_t> id;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf != nullptr) {
    const void* bits = nullptr;
    ssize_t n = dwelf_elf_gnu_build_id(elf, &bits);
    if (n > 0 && bits != nullptr) {
      auto* p = static_cast<const uint8_t*>(bits);
      id.assign(p, p + n);
    }
    elf_end(elf);
  }
  return id;
}

}  // namespace

std::vector<uint8_t> read_build_id(const std::string& path) {
  int fd = open_regular(path, nullptr);
  if (fd < 0) return {};
  std::vector<uint8_t> id = build_id_of(fd);
  ::close(fd);
  return id;
}

struct DwarfObject::Impl {
  Dwfl* dwfl = nullptr;
  Dwfl_Module* mod = nullptr;
  GElf_Addr bias = 0;
  std::unique_ptr<CuIndex> cu_index;  // built on the first lookup .debug_aranges cannot answer
  ~Impl() {
    cu_index.reset();  // its DIEs point into the open DWARF
    if (dwfl != nullptr) dwfl_end(dwfl);
  }
};

DwarfObject::~DwarfObject() = default;

std::unique_ptr<DwarfObject> DwarfObject::open(const std::string& path,
                                               const std::vector<uint8_t>& build_id,
                                               bool allow_unverified, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::unique_ptr<DwarfObject> {
    if (why != nullptr) *why = path + ": " + reason;
    return nullptr;
  };
  std::string open_why;
  int fd = open_regular(path, &open_why);
  if (fd < 0) return fail(open_why);
  std::vector<uint8_t> file_id = build_id_of(fd);
  if (build_id.empty()) {
    if (!allow_unverified) {
      ::close(fd);
      return fail("capture has no build-id to verify it against");
    }
  } else if (file_id != build_id) {
    ::close(fd);
    return fail("build-id " + (file_id.empty() ? std::string("(none)") : hex(file_id)) +
                " differs from the capture's " + hex(build_id));
  }

  std::unique_ptr<DwarfObject> obj(new DwarfObject());
  obj->impl_ = std::make_unique<Impl>();
  obj->path_ = path;
  Impl& im = *obj->impl_;
  im.dwfl = dwfl_begin(&kCallbacks);
  if (im.dwfl == nullptr) {
    ::close(fd);
    return fail("dwfl_begin failed");
  }
  dwfl_report_begin(im.dwfl);
  // libdw takes the descriptor opened above (it would open the path itself,
  // blocking, otherwise); one it refuses is still ours.
  im.mod = dwfl_report_elf(im.dwfl, path.c_str(), path.c_str(), fd, 0, false);
  dwfl_report_end(im.dwfl, nullptr, nullptr);
  if (im.mod == nullptr) {
    ::close(fd);
    return fail(std::string("not a usable ELF file: ") + dwfl_errmsg(-1));
  }

  Elf* elf = dwfl_module_getelf(im.mod, &im.bias);
  if (elf == nullptr) return fail("cannot read ELF");
  size_t nphdr = 0;
  if (elf_getphdrnum(elf, &nphdr) == 0) {
    for (size_t i = 0; i < nphdr; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD) {
        if (obj->segments_.empty()) {
          uint64_t align = ph.p_align > 1 ? ph.p_align : 4096;
          obj->first_load_vaddr_ = ph.p_vaddr & ~(align - 1);
        }
        obj->segments_.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz});
        if ((ph.p_flags & PF_X) && ph.p_filesz > 0) obj->segments_have_offsets_ = true;
      }
    }
  }
  Dwarf_Addr dwbias = 0;
  Dwarf* dw = dwfl_module_getdwarf(im.mod, &dwbias);
  if (dw != nullptr) {
    Dwarf_Off off = 0, next = 0;
    size_t hsize = 0;
    obj->has_dwarf_ = dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0;
  }
  // dwfl_module_addrinfo scans the whole symbol table on every call; read it once,
  // sorted, and binary-search it instead.
  int nsyms = dwfl_module_getsymtab(im.mod);
  std::vector<int> ranks;
  for (int i = 1; i < nsyms; ++i) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    GElf_Word shndx = 0;
    const char* name = dwfl_module_getsym_info(im.mod, i, &sym, &value, &shndx, nullptr, nullptr);
    if (name == nullptr || *name == '\0' || shndx == SHN_UNDEF || value == 0) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE) continue;
    obj->symbols_.push_back({value - im.bias, sym.st_size, name});
    int bind = GELF_ST_BIND(sym.st_info);
    ranks.push_back(bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
  }
  // Aliases share an address: sort the preferred name last, where find_symbol()
  // looks first: global over weak over local, then fewer leading underscores.
  std::vector<size_t> order(obj->symbols_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto underscores = [](const std::string& n) { return n.find_first_not_of('_'); };
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const Symbol& a = obj->symbols_[x];
    const Symbol& b = obj->symbols_[y];
    if (a.address != b.address) return a.address < b.address;
    if (ranks[x] != ranks[y]) return ranks[x] < ranks[y];
    return underscores(a.name) > underscores(b.name);
  });
  std::vector<Symbol> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back(std::move(obj->symbols_[i]));
  obj->symbols_ = std::move(sorted);
  obj->has_symbols_ = !obj->symbols_.empty();
  if (!obj->has_dwarf_ && !obj->has_symbols_) return fail("no symbols and no DWARF");
  return obj;
}

std::vector<SourceFrame> DwarfObject::lookup(uint64_t vaddr, bool with_inline) const {
  std::vector<SourceFrame> frames;
  const GElf_Addr addr = vaddr + impl_->bias;
  const char* sym_name = nullptr;
  if (long i = find_symbol(symbols_, vaddr); i >= 0) sym_name = symbols_[static_cast<size_t>(i)].name.c_str();
  if (has_dwarf_) {
    Dwarf_Addr dwbias = 0;
    Dwarf_Die* cudie = find_cu(impl_->mod, addr, &dwbias, impl_->cu_index);
    if (cudie != nullptr) {
      std::string file;
      uint32_t line = 0;
      // In this CU (dwfl_module_getsrc() would find the CU through .debug_aranges only).
      if (Dwarf_Line* l = dwarf_getsrc_die(cudie, addr - dwbias)) {
        int lineno = 0;
        if (const char* f = dwarf_linesrc(l, nullptr, nullptr); f && dwarf_lineno(l, &lineno) == 0) {
          file = f;
          line = static_cast<uint32_t>(lineno);
        }
      }
      Dwarf_Files* files = nullptr;
      size_t nfiles = 0;
      bool have_files = dwarf_getsrcfiles(cudie, &files, &nfiles) == 0;
      // dwarf_getscopes() continues an inlined instance with the scopes of its
      // abstract definition, not with its concrete caller; so take the innermost
      // function-like scope and walk its concrete parents with dwarf_getscopes_die().
      Dwarf_Die* scopes = nullptr;
      int n = dwarf_getscopes(cudie, addr - dwbias, &scopes);
      for (int i = 0; i < n; ++i) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram) break;  // no inlining here: the scopes are right
        if (tag == DW_TAG_inlined_subroutine) {
          Dwarf_Die innermost = scopes[i];
          std::free(scopes);
          scopes = nullptr;
          n = dwarf_getscopes_die(&innermost, &scopes);
          break;
        }
      }
      for (int i = 0; i < n; ++i) {
        Dwarf_Die* s = &scopes[i];
        int tag = dwarf_tag(s);
        if (tag == DW_TAG_inlined_subroutine) {
          if (with_inline) frames.push_back({die_function_name(s), file, line});
          // The next outer frame sits at this inline instance's call site.
          Dwarf_Attribute attr;
          Dwarf_Word v = 0;
          if (dwarf_formudata(dwarf_attr(s, DW_AT_call_file, &attr), &v) == 0 && have_files) {
            const char* f = dwarf_filesrc(files, v, nullptr, nullptr);
            file = f ? f : "";
          }
          if (dwarf_formudata(dwarf_attr(s, DW_AT_call_line, &attr), &v) == 0) {
            line = static_cast<uint32_t>(v);
          }
        } else if (tag == DW_TAG_subprogram) {
          std::string name = sym_name ? sym_name : die_function_name(s);
          frames.push_back({name, file, line});
          std::free(scopes);
          return frames;
        }
      }
      std::free(scopes);
      if (sym_name != nullptr) {
        frames.push_back({sym_name, file, line});
        return frames;
      }
      frames.clear();
    }
  }
  if (sym_name != nullptr) frames.push_back({sym_name, "", 0});
  return frames;
}

}  // namespace ebt::symbolize
