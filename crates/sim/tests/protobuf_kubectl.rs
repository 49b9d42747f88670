//! Runs the protobuf conformance tests (`conformance/protobuf.rs`) over `tests/common`'s
//! server until the conformance harness carries them as one of its modules.

mod common;

#[path = "conformance/protobuf.rs"]
mod protobuf;
