//! Pure scheduling: requirement algebra, pod constraints, topology, bin packing.
