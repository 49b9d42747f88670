//! Kubernetes quantities as numbers, for the fields clients write (`kubectl set resources`).

/// CPU in millicores (`500m`, `1`, `0.5`).
pub fn cpu(q: &str) -> Option<u64> {
    nightshift_scenario::units::parse_cpu(q).ok()
}

/// Memory in bytes (`256Mi`, `1G`, `134217728`).
pub fn memory(q: &str) -> Option<u64> {
    nightshift_scenario::units::parse_memory(q).ok()
}
