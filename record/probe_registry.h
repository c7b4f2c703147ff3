// The probe families the recorder can load. Adding a family is one line in
// probe_registry.cpp: its name, when it is enabled, and how to create it.
#pragma once

#include <memory>
#include <vector>

#include "record/probe.h"
#include "record/record_options.h"

namespace ebt::record {

struct ProbeFamily {
  const char* name;
  bool (*enabled)(const RecordOptions&);
  std::unique_ptr<Probe> (*create)(const RecordOptions&);
};

const std::vector<ProbeFamily>& probe_families();

}  // namespace ebt::record
