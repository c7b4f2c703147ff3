// The ELF objects (executables, shared libraries) seen in target processes.
//
// Each distinct file is opened once, at first sighting, through
// /proc/PID/map_files (or /proc/PID/root/PATH), so that a process in a container
// resolves to its own file and the object can still be read at the end of the
// recording after the process exited or the file was replaced or deleted.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/records.h"
#include "record/proc_reader.h"

namespace ebt::record {

struct ObjectFile {
  int fd = -1;
  std::string path;                 // as mapped in the first process it was seen in
  std::vector<uint8_t> build_id;    // empty: none or unreadable
  std::vector<LoadSegment> segments;
  std::set<uint64_t> hits;          // ELF virtual addresses seen in user stacks
  bool unwind_table = false;        // raw stacks went through it (--keep-stack-bytes): embed its CFI
  ~ObjectFile();

  // ELF virtual address of `file_offset`, or false when no PT_LOAD covers it.
  bool offset_to_vaddr(uint64_t file_offset, uint64_t* vaddr) const;
};

class ObjectCache {
 public:
  // The object behind an executable file mapping of `pid`, opened on first
  // sighting; nullptr for anonymous/special mappings or unreadable files.
  ObjectFile* get(uint32_t pid, const ProcMapping& m);
  const std::vector<std::unique_ptr<ObjectFile>>& objects() const { return objects_; }
  size_t open_files() const { return objects_.size(); }
  // Closes and forgets every object but those in `in_use` (called between
  // files, so that a recording of days does not keep every object it ever saw
  // open; a forgotten object is opened again if it is seen again).
  void retain_only(const std::set<const ObjectFile*>& in_use);

 private:
  std::map<std::pair<std::string, uint64_t>, ObjectFile*> by_dev_inode_;
  std::map<std::vector<uint8_t>, ObjectFile*> by_build_id_;
  std::set<std::pair<std::string, uint64_t>> failed_;
  std::vector<std::unique_ptr<ObjectFile>> objects_;
};

// This machine's vDSO image (identical in every 64-bit process of this
// kernel), copied once into a memory file: a path libdw and readers can open
// like an object file ("" if unavailable).
const std::string& vdso_file();

// Reads the build-id note and PT_LOAD segments of an ELF file; false if not ELF.
bool read_elf_identity(int fd, std::vector<uint8_t>* build_id, std::vector<LoadSegment>* segments);

}  // namespace ebt::record
