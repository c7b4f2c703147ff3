// A symbolized frame: what report/ shows for one (possibly inlined) call level.
#pragma once

#include <cstdint>
#include <string>

namespace ebt::symbolize {

// What a frame is; decides colours, markers and folded suffixes in report/.
enum class FrameType : uint8_t {
  kUser = 0,    // native user-space function
  kKernel = 1,  // kernel function (folded suffix _[k])
  kInline = 2,  // inlined into the next outer frame (folded suffix _[i])
  kLua = 3,     // Lua function
  kJit = 4,     // JIT-compiled code (folded suffix _[j])
  kMarker = 5,  // synthetic frame added by a report (off-CPU state, wakeup marker...)
  kProcess = 6, // the comm/process root frame of a flame graph
};

const char* frame_type_name(FrameType type);

struct SymFrame {
  std::string name;    // demangled function name, or [module+0xOFFSET] / [unknown]
  std::string module;  // basename of the object ("[kernel.kallsyms]", "[ext4]" for kernel)
  std::string file;    // source file when known (DWARF or embedded locations)
  uint32_t line = 0;
  FrameType type = FrameType::kUser;
  bool resolved = false;  // false: name is a [module+0x..] / [unknown] placeholder
};

}  // namespace ebt::symbolize
