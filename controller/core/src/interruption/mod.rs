//! Parsing of interruption-queue messages (EventBridge events) into a small model per kind.
