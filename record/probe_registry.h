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
  // Its events carry user addresses, symbolized through the processes'
  // executable mappings. When no enabled family does (--sched, --tcp, --skb,
  // --syscalls alone), the recorder neither reads /proc/PID/maps nor traces
  // mmap: with -a that was most of its CPU beside the BPF programs.
  bool user_addresses;
};

const std::vector<ProbeFamily>& probe_families();

}  // namespace ebt::record
