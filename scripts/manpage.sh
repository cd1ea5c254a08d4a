#!/usr/bin/env bash
# Writes the man page legnext-queue(1), in mdoc, from a built binary: its
# --experimental-dump-help JSON (what swift-argument-parser's generate-manual plugin renders
# too, but without building anything), so the page says what that binary's --help says.
#   bash scripts/manpage.sh .build/release/legnext-queue > legnext-queue.1
# Needs jq. SOURCE_DATE_EPOCH, when set, dates the page (reproducible builds).
set -euo pipefail
binary=${1:?usage: manpage.sh PATH-TO-legnext-queue}
command -v jq >/dev/null 2>&1 || {
    echo "manpage.sh: needs jq (apt-get install jq)" >&2
    exit 1
}
version=$("$binary" --version)
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" '+%B %-d, %Y')

"$binary" --experimental-dump-help | jq -r --arg version "$version" --arg date "$date" '
  # Text lines: escape backslashes, keep roff from reading a leading . or '"'"' as a request,
  # and make an empty line a paragraph break.
  # Anything past ASCII as a roff escape, so the page needs no preconv to read right.
  def hex: (. % 16) as $digit | (if . >= 16 then (. / 16 | floor | hex) else "" end) + "0123456789ABCDEF"[$digit:$digit + 1];
  def ascii: explode | map(if . < 128 then [.] | implode else hex as $h | "\\[u" + ("000" + $h | .[-([4, ($h | length)] | max):]) + "]" end) | join("");
  def text: gsub("\\\\"; "\\e") | ascii | split("\n") | map(if . == "" then ".Pp" elif test("^[.'"'"']") then "\\&" + . else . end) | join("\n");
  def quoted: "\"" + (gsub("\\\\"; "\\e") | gsub("\""; "\\(dq") | ascii) + "\"";
  def flagname: if .kind == "long" then "Fl -" + .name elif .kind == "short" then "Fl " + .name else "Fl " + .name end;
  def names: [.names[]? | flagname] | join(" , ");
  def shown: [.arguments[]? | select(.shouldDisplay)];
  # One argument as the synopsis shows it.
  def synopsis:
    . as $argument
    | (if .kind == "positional" then "Ar " + (.valueName | quoted)
       elif .kind == "flag" then (.preferredName | flagname)
       else (.preferredName | flagname) + " Ar " + (.valueName | quoted) end)
      + (if .isRepeating then " No ..." else "" end)
    | if $argument.isOptional then "Op " + . else . end;
  # One argument as an item of the options list.
  def item:
    ".It " + (if .kind == "positional" then "Ar " + (.valueName | quoted)
              elif .kind == "flag" then names
              else names + " Ar " + (.valueName | quoted) end),
    ((.abstract // "") | text),
    (if .defaultValue then "(default: " + .defaultValue + ")" | text else empty end),
    (if .discussion then ".Pp", (.discussion | text) else empty end);
  def options: shown | if length > 0 then ".Bl -tag -width 6n", (.[] | item), ".El" else empty end;

  .command as $root
  | ".Dd " + $date,
    ".Dt LEGNEXT-QUEUE 1",
    ".Os \"legnext-queue " + $version + "\"",
    ".Sh NAME",
    ".Nm " + $root.commandName,
    ".Nd " + ($root.abstract | text),
    ".Sh SYNOPSIS",
    ".Nm",
    ($root | shown[] | "." + synopsis),
    ".Ar subcommand",
    ".Sh DESCRIPTION",
    ($root.discussion // empty | text),
    ($root | options),
    ".Sh SUBCOMMANDS",
    ($root.subcommands[] | select(.shouldDisplay and .commandName != "help")
      | ".Ss " + .commandName,
        ".Nm " + $root.commandName + " " + .commandName,
        (shown[] | "." + synopsis),
        ".Pp",
        ((.abstract // "") | text),
        (if .discussion then ".Pp", (.discussion | text) else empty end),
        options),
    ".Sh SEE ALSO",
    ".Xr systemctl 1 ,",
    ".Xr journalctl 1 ,",
    ".Xr sqlite3 1"
'
