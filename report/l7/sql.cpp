#include "report/l7/sql.h"

#include <cctype>
#include <vector>

namespace ebt::report::l7 {
namespace {

constexpr size_t kMaxWord = 64;

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$' || c == '"' ||
         c == '`';
}

std::string upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

// Words of the statement, comments skipped; a word running into the end of a
// prefix is dropped.
std::vector<std::string_view> words(std::string_view s, bool complete, size_t max_words) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < s.size() && w.size() < max_words) {
    char c = s[i];
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      size_t e = s.find('\n', i);
      if (e == std::string_view::npos) break;
      i = e + 1;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      size_t e = s.find("*/", i + 2);
      if (e == std::string_view::npos) break;
      i = e + 2;
    } else if (word_char(c)) {
      size_t j = i;
      while (j < s.size() && word_char(s[j])) ++j;
      if (j == s.size() && !complete) break;  // may continue beyond the capture
      w.push_back(s.substr(i, std::min(j - i, kMaxWord)));
      i = j;
    } else if (c == '(' || c == ';') {
      w.push_back(s.substr(i, 1));
      ++i;
    } else {
      ++i;
    }
  }
  return w;
}

std::string unquote(std::string_view t) {
  std::string r;
  for (char c : t)
    if (c != '"' && c != '`') r += c;
  return r;
}

}  // namespace

std::string sql_name(std::string_view sql, bool complete) {
  auto w = words(sql, complete, 48);
  if (w.empty() || !std::isalpha(static_cast<unsigned char>(w[0][0]))) return {};
  std::string kw = upper(w[0]);
  // The word after the first of these markers names the table.
  std::string_view marker;
  if (kw == "SELECT" || kw == "DELETE") marker = "FROM";
  else if (kw == "INSERT" || kw == "REPLACE") marker = "INTO";
  else if (kw == "UPDATE") marker = "";  // the next word
  else if (kw == "CREATE" || kw == "DROP" || kw == "ALTER" || kw == "TRUNCATE") marker = "TABLE";
  else if (kw == "COPY") marker = "";
  else return kw;
  size_t i = 1;
  if (!marker.empty()) {
    while (i < w.size() && upper(w[i]) != marker) ++i;
    if (i == w.size()) return kw;
    ++i;
  }
  // IF [NOT] EXISTS, ONLY, IGNORE, LOW_PRIORITY ...
  while (i < w.size()) {
    std::string u = upper(w[i]);
    if (u == "IF" || u == "NOT" || u == "EXISTS" || u == "ONLY" || u == "IGNORE" || u == "LOW_PRIORITY" ||
        u == "DELAYED" || u == "HIGH_PRIORITY")
      ++i;
    else
      break;
  }
  if (i >= w.size() || w[i] == "(" || w[i] == ";") return kw;
  return kw + " " + unquote(w[i]);
}

}  // namespace ebt::report::l7
