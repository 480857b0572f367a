#pragma once

// How many bytes a process has taken from a TCP socket, as the kernel counts
// them (internal to src/http). The outgoing client uses it to bound what a
// peer can make httplib read for one call, head included, without hooking
// httplib's reads: only the kernel sees every byte httplib takes, over TLS
// too. Kept apart from http.cpp because <linux/tcp.h>, which has the counter,
// clashes with the <netinet/tcp.h> that httplib includes.

#include <cstdint>
#include <optional>

namespace lameduck::http::detail {

// Bytes received on the connected TCP socket `fd` (or a duplicate of it) and
// already read from it: the kernel's count of bytes received in order
// (tcp_info's tcpi_bytes_received) less those still waiting in its receive
// queue. Counts from the connection's first byte: TLS records and handshake
// included. nullopt when `fd` is not a TCP socket or the kernel cannot tell.
// Thread-safe; never blocks.
std::optional<uint64_t> bytesTaken(int fd);

}  // namespace lameduck::http::detail
