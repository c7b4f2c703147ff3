// A recording made of several capture files (ebtrace record --switch-output):
// read as one capture, in time order.
#pragma once

#include <string>
#include <vector>

#include "format/records.h"

namespace ebt::format {

// `args`: capture files, directories (every capture file in them) and globs
// ('capture.ebt.*', for shells that pass them quoted). One file: its path.
// Several: they are ordered by their session's wall-clock start and spliced
// (format/splice.h) into one temporary capture in memory, whose path is
// returned (stack, string and socket ids are the recorder's, the same across
// its files; every file brings its own tables). Notes about files cut short
// go to `notes`. BadInput when nothing matches or a file is not a capture.
std::string open_recording(const std::vector<std::string>& args, std::vector<std::string>* notes = nullptr);

// The same arguments as open_recording, for `report a.ebt b.ebt`: files are
// grouped into recordings and each group is opened like open_recording (one
// path per recording, by wall-clock start). Files belong to one recording
// only when it was rotated (--switch-output, --flight-recorder in its
// options) and they share host, boot id, command line and options: a rotated
// recording's files share the recorder's ids, captures of separate recorders
// do not and are never spliced.
std::vector<std::string> open_recordings(const std::vector<std::string>& args,
                                         std::vector<std::string>* notes = nullptr);

// `--time 03:10,03:20`: a range of UTC wall-clock times (HH:MM[:SS[.frac]], or
// YYYY-MM-DDTHH:MM[:SS]) as START,END seconds from the session's start, the
// form report's --time takes; a time of day is taken on the day that puts it
// within 12 hours of the start. Either side may be empty. BadInput if malformed.
std::string wall_time_range(const std::string& text, const SessionInfo& session);

}  // namespace ebt::format
