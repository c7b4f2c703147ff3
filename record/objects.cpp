#include "record/objects.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ebt::record {

const std::string& vdso_file() {
  static const std::string path = [] {
    auto base = getauxval(AT_SYSINFO_EHDR);
    if (!base) return std::string();
    auto maps = read_exec_maps(uint32_t(getpid()));
    if (!maps) return std::string();
    for (const auto& m : *maps) {
      if (m.path != "[vdso]" || m.start != base) continue;
      int fd = memfd_create("ebtrace-vdso", MFD_CLOEXEC);
      if (fd < 0) return std::string();
      size_t len = m.end - m.start;
      if (write(fd, reinterpret_cast<const void*>(m.start), len) != ssize_t(len)) {
        close(fd);
        return std::string();
      }
      return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);  // fd kept open
    }
    return std::string();
  }();
  return path;
}

ObjectFile::~ObjectFile() {
  if (fd >= 0) close(fd);
}

bool ObjectFile::offset_to_vaddr(uint64_t off, uint64_t* vaddr) const {
  for (const auto& s : segments) {
    if (off >= s.file_offset && off < s.file_offset + s.file_size) {
      *vaddr = off - s.file_offset + s.vaddr;
      return true;
    }
  }
  return false;
}

bool read_elf_identity(int fd, std::vector<uint8_t>* build_id, std::vector<LoadSegment>* segments) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (!elf) return false;
  bool ok = elf_kind(elf) == ELF_K_ELF;
  size_t nph = 0;
  if (ok && elf_getphdrnum(elf, &nph) == 0) {
    for (size_t i = 0; i < nph; i++) {
      GElf_Phdr ph;
      if (!gelf_getphdr(elf, int(i), &ph)) continue;
      if (ph.p_type == PT_LOAD) {
        segments->push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz});
      } else if (ph.p_type == PT_NOTE && build_id->empty()) {
        Elf_Data* data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz,
                                              ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
        if (!data) continue;
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
          const char* base = static_cast<const char*>(data->d_buf);
          if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(base + name_off, "GNU", 4) == 0) {
            build_id->assign(base + desc_off, base + desc_off + nh.n_descsz);
            break;
          }
        }
      }
    }
  }
  elf_end(elf);
  return ok;
}


void ObjectCache::retain_only(const std::set<const ObjectFile*>& in_use) {
  std::erase_if(by_dev_inode_, [&](const auto& kv) { return !in_use.count(kv.second); });
  std::erase_if(by_build_id_, [&](const auto& kv) { return !in_use.count(kv.second); });
  std::erase_if(objects_, [&](const auto& o) { return !in_use.count(o.get()); });
  failed_.clear();  // tried again when seen again (the file may be readable now)
}

ObjectFile* ObjectCache::get(uint32_t pid, const ProcMapping& m) {
  if (m.inode == 0 || m.path.empty() || m.path[0] == '[') return nullptr;
  auto key = std::make_pair(m.dev, m.inode);
  if (auto it = by_dev_inode_.find(key); it != by_dev_inode_.end()) return it->second;
  if (failed_.count(key)) return nullptr;

  int fd = open_mapped_file(pid, m);
  if (fd < 0) {
    failed_.insert(key);
    return nullptr;
  }
  auto obj = std::make_unique<ObjectFile>();
  obj->fd = fd;
  obj->path = m.path;
  if (!read_elf_identity(fd, &obj->build_id, &obj->segments)) {
    failed_.insert(key);
    return nullptr;  // obj closes fd
  }
  if (!obj->build_id.empty()) {
    if (auto it = by_build_id_.find(obj->build_id); it != by_build_id_.end()) {
      by_dev_inode_[key] = it->second;  // same contents under another name (container layer)
      return it->second;
    }
  }
  ObjectFile* raw = obj.get();
  objects_.push_back(std::move(obj));
  by_dev_inode_[key] = raw;
  if (!raw->build_id.empty()) by_build_id_[raw->build_id] = raw;
  return raw;
}

}  // namespace ebt::record
