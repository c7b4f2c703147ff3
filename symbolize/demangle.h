#pragma once

#include <string>

namespace ebt::symbolize {

// Demangles Itanium C++ names (_Z...); returns other names unchanged.
std::string demangle(const std::string& name);

}  // namespace ebt::symbolize
