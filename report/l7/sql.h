// SQL statement names for the database protocols: the first keyword and the
// table it works on ("SELECT users", "INSERT orders", "BEGIN").
#pragma once

#include <string>
#include <string_view>

namespace ebt::report::l7 {

// `complete`: the text is the whole statement. A prefix (the rest lay beyond the
// capture) yields only what it holds whole: a word cut at the end is not used.
// Empty when not even the keyword is known.
std::string sql_name(std::string_view sql, bool complete);

}  // namespace ebt::report::l7
