#include "sink/sqlite/fault_vfs.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <mutex>

#include "sys/fault.hpp"

namespace sqtail::sink {

namespace {

using sys::fault::Op;

sqlite3_vfs* g_unix = nullptr;  // the VFS underneath, set once by registerFaultVfs()

// Our file: the unix VFS's own file follows it in the same allocation (szOsFile covers both).
struct FaultFile {
  sqlite3_file base;
  const char* path;  // xOpen's name (SQLite keeps it valid until xClose); null for temp files
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

FaultFile* self(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return self(f)->real(); }

// As the unix VFS reports the errno: a full disk or quota is SQLITE_FULL, the rest an I/O error.
int sqliteCode(int err, int io_error) {
  return err == ENOSPC || err == EDQUOT ? SQLITE_FULL : io_error;
}

int faultWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  if (const int err = sys::fault::check(Op::kSqliteWrite, self(f)->path); err > 0) {
    return sqliteCode(err, SQLITE_IOERR_WRITE);
  }
  return real(f)->pMethods->xWrite(real(f), buf, amount, offset);
}

int faultSync(sqlite3_file* f, int flags) {
  if (const int err = sys::fault::check(Op::kSqliteSync, self(f)->path); err > 0) {
    return sqliteCode(err, SQLITE_IOERR_FSYNC);
  }
  return real(f)->pMethods->xSync(real(f), flags);
}

// Everything else goes straight to the unix file. Version 3: WAL needs the xShm methods.
const sqlite3_io_methods kMethods = {
    3,
    [](sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); },
    [](sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
      return real(f)->pMethods->xRead(real(f), buf, amount, offset);
    },
    faultWrite,
    [](sqlite3_file* f, sqlite3_int64 size) { return real(f)->pMethods->xTruncate(real(f), size); },
    faultSync,
    [](sqlite3_file* f, sqlite3_int64* size) {
      return real(f)->pMethods->xFileSize(real(f), size);
    },
    [](sqlite3_file* f, int lock) { return real(f)->pMethods->xLock(real(f), lock); },
    [](sqlite3_file* f, int lock) { return real(f)->pMethods->xUnlock(real(f), lock); },
    [](sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); },
    [](sqlite3_file* f, int op, void* arg) {
      return real(f)->pMethods->xFileControl(real(f), op, arg);
    },
    [](sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); },
    [](sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); },
    [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
      return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
    },
    [](sqlite3_file* f, int offset, int n, int flags) {
      return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
    },
    [](sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); },
    [](sqlite3_file* f, int delete_flag) {
      return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
    },
    [](sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
      return real(f)->pMethods->xFetch(real(f), offset, amount, out);
    },
    [](sqlite3_file* f, sqlite3_int64 offset, void* p) {
      return real(f)->pMethods->xUnfetch(real(f), offset, p);
    },
};

int faultOpen(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  FaultFile* file = self(f);
  file->base.pMethods = nullptr;  // SQLite calls no method of a file whose open failed
  file->path = name;
  const int rc = g_unix->xOpen(g_unix, name, file->real(), flags, out_flags);
  if (rc != SQLITE_OK || file->real()->pMethods == nullptr) return rc;
  if (file->real()->pMethods->iVersion < kMethods.iVersion) {
    // A unix file without the xShm/xFetch methods cannot be wrapped by ours: fail loudly.
    file->real()->pMethods->xClose(file->real());
    return SQLITE_CANTOPEN;
  }
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

}  // namespace

void registerFaultVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!sys::fault::wantsSqlite()) return;
    g_unix = sqlite3_vfs_find("unix");
    if (g_unix == nullptr) return;
    // A copy of the unix VFS with our xOpen and file size: its other methods (delete, access,
    // full path names, randomness, time, system calls) are the unix VFS's own, and they read
    // nothing from the VFS struct but what the copy keeps (mxPathname, pAppData).
    static sqlite3_vfs vfs = *g_unix;
    vfs.pNext = nullptr;
    vfs.zName = "sqtail-fault";
    vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_unix->szOsFile;
    vfs.xOpen = faultOpen;
    sqlite3_vfs_register(&vfs, 1);
  });
}

}  // namespace sqtail::sink
