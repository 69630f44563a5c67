"""Pure domain code: data shapes, Message-ID rules, reply matching, threading. stdlib only, no I/O."""
