// Owns the fault VFS: a shim over SQLite's "unix" VFS whose xWrite and xSync fail as
// SQTAIL_FAULTS asks (sys/fault.hpp: sqlite_write, sqlite_sync), so that a full or failing disk
// under the database is testable without one. Any thread; before the connections it affects.
#pragma once

namespace sqtail::sink {

// Registers the shim as SQLite's default VFS if an active fault rule names a sqlite_ op;
// otherwise (and on every later call) does nothing.
void registerFaultVfs();

}  // namespace sqtail::sink
