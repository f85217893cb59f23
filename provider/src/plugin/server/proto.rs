//! Generated protobuf types and service traits; nothing outside `plugin::server` sees them.
#![allow(
    dead_code,
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub
)]

pub(crate) mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

pub(crate) mod goplugin {
    tonic::include_proto!("plugin");
}
