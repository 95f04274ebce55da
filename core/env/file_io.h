// Full reads and writes at offsets, fsync of a directory, and atomic
// replacement of a file: every loop over read/write/pread/pwrite in the
// project lives here, so short transfers and EINTR are handled once.
//
// `what` names the file in error messages ("read /srv/x").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/env/fd.h"
#include "core/status.h"

namespace dr {

// Reads up to `len` bytes at `offset` into `buf`, stopping early only at end
// of file. Returns the bytes read (less than `len` only at end of file).
Result<size_t> PreadFull(int fd, char* buf, size_t len, uint64_t offset, const std::string& what);
// Reads exactly `len` bytes at `offset`; a file that ends earlier is
// Corruption naming `what` and the range.
Status PreadExact(int fd, char* buf, size_t len, uint64_t offset, const std::string& what);
// Writes all of `data` at `offset` (pwrite) or at the file position (write).
Status PwriteFull(int fd, std::string_view data, uint64_t offset, const std::string& what);
Status WriteFull(int fd, std::string_view data, const std::string& what);
// The whole file at `path`.
Result<std::string> ReadWholeFile(const std::string& path);
// The file's first line, without its newline (a passphrase file).
Result<std::string> ReadFirstLine(const std::string& path);

// Makes the entries of directory `dir` durable.
Status FsyncDir(const std::string& dir);
// Makes what was written to `fd` durable (for a directory: its entries).
Status Fsync(int fd, const std::string& what);

// Makes [offset, offset + length) of `fd` read as zeros without ever holding
// a buffer the size of the range (a hole may be terabytes): a range that
// holds no data already is left alone; otherwise it is punched out (a hole,
// size kept), or, where the file system cannot punch, its data regions are
// overwritten with zeros from a fixed 1 MiB buffer.
Status ZeroRange(int fd, uint64_t offset, uint64_t length, const std::string& what);

enum class ReplaceMode {
  kReplace,        // an existing file is replaced atomically (rename)
  kCreateIfAbsent  // an existing file is left alone and AlreadyExists returned (link)
};
// Writes `data` to a temporary file beside `path` (mode `mode`), fsyncs it,
// moves it into place per `mode`, and fsyncs the directory. After OK the new
// content is durable under `path`; after an error `path` is unchanged and no
// temporary file is left behind. Temporary names start with ".tmp.".
Status WriteFileAtomically(const std::string& path, std::string_view data,
                           ReplaceMode mode = ReplaceMode::kReplace, unsigned mode_bits = 0600);
// Holds an exclusive flock on `path` (created with mode 0600) until the
// descriptor is closed, which also happens when the process dies. For
// processes of one host taking turns at something.
Result<UniqueFd> LockFile(const std::string& path);
// Whether a directory entry is one of WriteFileAtomically's temporary files.
bool IsAtomicWriteTemp(std::string_view name);
// A fresh name of that form (".tmp.<pid>.<n>.<random>"), for other code that
// makes a file beside its final name and renames it into place.
std::string AtomicWriteTempName();

}  // namespace dr
